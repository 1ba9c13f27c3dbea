// Package export turns a host's issued chains and keys into the files the
// servers phones talk to load: PKCS#12 for IIS and Exchange (TripleDES-SHA1
// for Windows Server 2016 and older, AES-256/PBKDF2 for 2019 and later), PEM,
// and nginx, Apache and HAProxy configuration that offers each chain family
// the TLS versions and suites its devices need.
//
// It reads the state directory the way a server does, through the layout's
// "current" links and pushca.json, so it needs no CA password and never
// opens the database: it must not sign, issue or change anything in the state
// directory. Device rules come only from package profile and configuration
// text only from package templates. Everything it writes is 0600 in 0700
// directories, replaced atomically.
package export
