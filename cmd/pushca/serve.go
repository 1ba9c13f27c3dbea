package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/pushca/pushca/profile"
	"github.com/pushca/pushca/push"
	"github.com/pushca/pushca/push/enroll"
	"github.com/pushca/pushca/push/ping"
	"github.com/pushca/pushca/push/state"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "run the SSL-only DirectPush test endpoint (ActiveSync over TLS, enrollment over HTTP, loopback admin API)",
		UsageText: `pushca serve --host mail.example.com
   pushca serve --host mail.example.com --https :443 --http :80
   pushca serve --cert rsa-chain.pem --key rsa-key.pem --cert ec-chain.pem --key ec-key.pem
   pushca serve --host mail.test --heartbeat-min 1 --heartbeat-max 60   # short bounds for tests
   PUSHCA_PASSWORD_FILE=/root/ca.pw pushca serve --host mail.example.com --auto-renew --renew-at 3/4

   Every chain family of the CA is served for --host: each handshake gets the
   chain its device accepts (Windows Mobile, which sends no signature_algorithms
   and offers TLS 1.0, the legacy SHA-1 chain; current clients the modern one),
   and TLS 1.0 with RSA key exchange is offered only when a legacy chain is.
   The certificates are read from servers/HOST/current*/ in --dir and
   re-read when the files change (or on SIGHUP), so renewing needs no restart.
   With --auto-renew the server renews it itself once --renew-at of its lifetime
   has passed (the CA password is read at start); a failed renewal is logged
   at error level and retried, from one minute doubling to one hour, while
   the current certificate stays in use. It also regenerates the CRLs served at
   /pushca.crl (and /pushca-FAMILY.crl) once half their week has passed. SIGHUP also re-reads the users file
   and the tokens (push/admin.token, push/metrics.token) and ends every dashboard session.
   /metrics takes the read-only push/metrics.token (or the admin token); the dashboard, /metrics and
   the dashboard's login are refused below TLS 1.2. One user keeps at most --devices-per-user device
   records and held Pings, the oldest going first.
   Autodiscover (POST /autodiscover/autodiscover.xml over TLS, Basic auth) answers a user
   asking about NAME@--mail-domain with --url's ActiveSync URL; a GET of that path on --http
   redirects to --url. Refused and failed requests are logged at info with the reason.
   On a CA kept in PostgreSQL (init --db), users, device records and the test mailbox are kept
   there too, and several serves, each on a copy of the state directory, serve the same users
   behind a TCP load balancer: a push through any one's admin API wakes the Pings held on all.
   Add users first with 'pushca users add NAME'; wake devices with 'pushca push NAME'.`,
		Flags: append(append(listenFlags("127.0.0.1:8443", ""), autoRenewFlags()...),
			&cli.StringFlag{Name: "host", Usage: "server certificate to serve from the state directory (servers/HOST/)"},
			&cli.StringSliceFlag{Name: "cert", Usage: "PEM chain file instead of --host; repeat with --key for an RSA and an ECDSA chain side by side"},
			&cli.StringSliceFlag{Name: "key", Usage: "PEM key file, one per --cert"},
			&cli.StringFlag{Name: "enroll-url", Usage: "public URL of the enrollment pages (--http), shown on the landing page and in its QR code; default http://HOST:PORT/ from --host (or the certificate's first name) and --http's port, never the request's Host header"},
			&cli.StringSliceFlag{Name: "profile", Usage: "device profiles served (" + fmt.Sprint(profile.Names()) + "; default: every profile the CA's families serve); wm* turns on TLS 1.0 with their RSA key-exchange suites, otherwise TLS 1.2+"},
		),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return fmt.Errorf("serve takes no arguments, got %q (see --help)", c.Args().First())
			}
			cfg, err := listenConfig(c)
			if err != nil {
				return err
			}
			cfg.Host, cfg.EnrollURL = c.String("host"), c.String("enroll-url")
			certs, keys := c.StringSlice("cert"), c.StringSlice("key")
			if len(certs) != len(keys) {
				return fmt.Errorf("give one --key per --cert (%d certificates, %d keys)", len(certs), len(keys))
			}
			for i := range certs {
				cfg.Pairs = append(cfg.Pairs, push.KeyPair{Cert: certs[i], Key: keys[i]})
			}
			if cfg.Host == "" && len(cfg.Pairs) == 0 {
				return errors.New("name the certificate to serve: --host (as issued with `pushca cert issue`) or --cert and --key")
			}
			for _, n := range c.StringSlice("profile") {
				p, err := profile.Get(n)
				if err != nil {
					return fmt.Errorf("--profile: %w", err)
				}
				cfg.Profiles = append(cfg.Profiles, p)
			}
			if err := autoRenew(c, &cfg); err != nil {
				return err
			}
			closeState, err := sharedState(c, &cfg)
			if err != nil {
				return err
			}
			return errors.Join(runServer(c, cfg, nil), closeState())
		},
	}
}

// sharedState keeps cfg's users, mailbox and device records in the
// PostgreSQL database pushDB names, which every serve on it shares (a
// delivery on one wakes the Pings held on all), and returns what closes
// it. Without one, cfg keeps them in --dir.
func sharedState(c *cli.Context, cfg *push.Config) (closeState func() error, err error) {
	dsn, err := pushDB(c)
	if err != nil || dsn == "" {
		return func() error { return nil }, err
	}
	db, users, err := openShared(c.Context, dsn, cfg.Log)
	if err != nil {
		return nil, err
	}
	// The bbolt file's rules: listenConfig makes DevicesPerUser a cap, or
	// -1 for none.
	db.SetDeviceRules(cfg.DevicesPerUser, cfg.HeartbeatAlert)
	cfg.Users, cfg.Store, cfg.Devices = users, db.Store(), db.Devices()
	cfg.Log.Info("users, devices and the test mailbox are in PostgreSQL, shared with every pushca serve on it", "db", dsn)
	return db.Close, nil
}

// listenFlags are the listener and heartbeat flags of serve and quickstart.
func listenFlags(https, http string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "https", Value: https, Usage: "address of the ActiveSync TLS listener"},
		&cli.StringFlag{Name: "http", Value: http, Usage: "address of the plain-HTTP enrollment pages (root downloads, per-user links made by bundle --base-url; off when empty)"},
		&cli.StringFlag{Name: "admin", Value: "127.0.0.1:8444", Usage: "loopback address of the admin API (off when empty)"},
		&cli.IntFlag{Name: "heartbeat-min", Value: ping.DefaultHeartbeatMin, Usage: "shortest Ping heartbeat accepted, seconds"},
		&cli.IntFlag{Name: "heartbeat-max", Value: ping.DefaultHeartbeatMax, Usage: "longest Ping heartbeat accepted, seconds"},
		&cli.IntFlag{Name: "devices-per-user", Value: state.DefaultDevicesPerUser, Usage: "device records and held Pings one user may have, the oldest going first beyond it (0: no limit, as pushca load with one user needs)"},
		&cli.IntFlag{Name: "heartbeat-alert-samples", Value: state.DefaultHeartbeatAlertSamples, Usage: "Pings a device must have made before its average heartbeat is judged, and how many are averaged (Exchange 2003's HbiSampleSize)"},
		&cli.IntFlag{Name: "heartbeat-alert-threshold", Value: state.DefaultHeartbeatAlertThreshold, Usage: "average heartbeat, seconds, at or below which a device's path is warned about (Exchange 2003's HbiAlertThreshold)"},
		&cli.StringFlag{Name: "mail-domain", Usage: "domain of the users' e-mail addresses, NAME@DOMAIN, as Settings and Autodiscover answer them (default: --host without its first label)"},
		&cli.StringFlag{Name: "url", Usage: "https://HOST[:PORT] where devices reach this server, as Autodiscover announces it (default: --host on the --https port)"},
	}
}

// listenConfig is the server configuration from --dir and listenFlags.
func listenConfig(c *cli.Context) (push.Config, error) {
	cfg := push.Config{
		Dir:       c.String("dir"),
		HTTPSAddr: c.String("https"), HTTPAddr: c.String("http"), AdminAddr: c.String("admin"),
		Heartbeat:      ping.HeartbeatBounds{Min: c.Int("heartbeat-min"), Max: c.Int("heartbeat-max")},
		HeartbeatAlert: state.HeartbeatAlert{Samples: c.Int("heartbeat-alert-samples"), Threshold: c.Int("heartbeat-alert-threshold")},
		MailDomain:     c.String("mail-domain"),
		URL:            c.String("url"),
		Log:            logger(c),
	}
	if err := cfg.Heartbeat.Validate(); err != nil {
		return push.Config{}, fmt.Errorf("--heartbeat-min/--heartbeat-max: %w", err)
	}
	if err := cfg.HeartbeatAlert.Validate(); err != nil {
		return push.Config{}, fmt.Errorf("--heartbeat-alert-samples/--heartbeat-alert-threshold: %w", err)
	}
	switch n := c.Int("devices-per-user"); {
	case n < 0:
		return push.Config{}, fmt.Errorf("--devices-per-user %d: give 0 (no limit) or more", n)
	case n == 0:
		cfg.DevicesPerUser = -1
	default:
		cfg.DevicesPerUser = n
	}
	return cfg, nil
}

// runServer serves cfg until the command's context ends (SIGINT, SIGTERM),
// reloading certificates on SIGHUP: the one code path of serve and
// quickstart. started, when set, runs once the listeners are bound and
// printed.
func runServer(c *cli.Context, cfg push.Config, started func(*push.Server) error) error {
	s, err := push.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Listen(c.Context); err != nil {
		return err
	}
	out := c.App.Writer
	fmt.Fprintf(out, "ActiveSync: https://%s%s\n", s.HTTPSAddr(), push.ActiveSyncPath)
	if a := s.HTTPAddr(); a != "" {
		fmt.Fprintf(out, "Enrollment: http://%s/ (root downloads; per-user pages at %s...)\n", a, enroll.LinkPath)
	}
	if a := s.AdminAddr(); a != "" {
		fmt.Fprintf(out, "Admin API:  http://%s (token in %s)\n", a, push.TokenPath(cfg.Dir))
	}
	if started != nil {
		if err := started(s); err != nil {
			return err
		}
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-hup:
				if err := s.Reload(); err != nil {
					cfg.Log.Error("SIGHUP: reload failed; what could not be read keeps its previous content", "err", err)
				} else {
					cfg.Log.Info("SIGHUP: certificates and users reloaded, tokens re-read, dashboard sessions ended")
				}
			case <-c.Context.Done():
				return
			}
		}
	}()
	return s.Serve(c.Context)
}
