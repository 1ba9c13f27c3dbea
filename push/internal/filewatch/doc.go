// Package filewatch tells whether files changed, for the parts of the push
// endpoint that reload files (its certificates, its users file) without
// being told. It compares size, modification time and identity through
// symlinks, at most once per interval; it must not read the files, which
// is their owners' job.
package filewatch
