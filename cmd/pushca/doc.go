// Command pushca is the CLI: flags, prompts, progress, printing. One file per
// command group (ca.go, cert.go, ...), each exposing a func returning its
// *cli.Command, listed in main.go.
//
// It holds no CA, packaging or protocol logic of its own: it calls the
// packages and presents their results.
package main
