#!/bin/sh
# Wall time and peak RSS of `pushca bundle` for N users (default 10,000;
# devices wm6, ios and android, with --base-url links), then of
# scripts/bundle-baseline.sh doing the same per user with openssl, gcab and
# qrencode, and their ratio per user. Measured by GNU time (/usr/bin/time
# -v); the baseline's RSS is its largest single process, not the sum. The
# baseline forks about ten processes a user, so at 10,000 users it runs for
# many minutes: BASELINE_N runs it on the first BASELINE_N users only.
#
# Usage: scripts/bench-bundle.sh [N [BASELINE_N]]   (make bench-bundle N=10000 BASELINE_N=1000)
set -eu
n=${1:-10000}
bn=${2:-$n}
for tool in /usr/bin/time openssl gcab qrencode; do
	command -v "$tool" >/dev/null || { echo "bench-bundle: $tool is missing (apt-get install time openssl gcab qrencode)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
go build -o "$work/pushca" ./cmd/pushca
printf 'bench password\n' > "$work/pw"
"$work/pushca" --dir "$work/state" init --host mail.example.com --profile wm6 --password-file "$work/pw" >/dev/null
{
	echo "user,domain,devices"
	i=0
	while [ "$i" -lt "$n" ]; do echo "user$i,CORP,wm6 ios android"; i=$((i + 1)); done
} > "$work/users.csv"

# measure NAME COMMAND...: runs it under GNU time, prints seconds and MiB.
measure() {
	name=$1
	shift
	/usr/bin/time -v "$@" > /dev/null 2> "$work/$name.time" || { cat "$work/$name.time" >&2; exit 1; }
	wall=$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$work/$name.time" |
		awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; printf "%.2f", s }')
	rss=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$work/$name.time" | awk '{ printf "%.1f", $1 / 1024 }')
	# CPU time says less about the machine's other load than wall time.
	cpu=$(sed -n 's/.*\(User\|System\) time (seconds): //p' "$work/$name.time" | awk '{ s += $1 } END { printf "%.2f", s }')
	echo "$name: $users users, $wall s wall, $cpu s CPU (user+system), $rss MiB peak RSS, load average $(cut -d' ' -f1 /proc/loadavg)"
	eval "${name}_wall=$wall"
}

head -n $((bn + 1)) "$work/users.csv" > "$work/baseline-users.csv"
users=$n
measure pushca "$work/pushca" --dir "$work/state" bundle --users "$work/users.csv" --server mail.example.com \
	--base-url http://enroll.example.com --out "$work/pushca-out"
users=$bn
measure baseline sh scripts/bundle-baseline.sh "$work/state/certs/root_ca.crt" "$work/baseline-users.csv" "$work/baseline-out" \
	mail.example.com http://enroll.example.com
echo "files: pushca $(find "$work/pushca-out" -type f | wc -l), baseline $(find "$work/baseline-out" -type f | wc -l)"
awk -v a="$pushca_wall" -v n="$n" -v b="$baseline_wall" -v bn="$bn" \
	'BEGIN { printf "wall time per user: pushca %.2f ms, baseline %.2f ms, ratio %.1fx\n", 1000 * a / n, 1000 * b / bn, (b / bn) / (a / n) }'
