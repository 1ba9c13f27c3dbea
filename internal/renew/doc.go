// Package renew decides when something signed with a lifetime — a server
// certificate, a CRL — is replaced: once a fraction of its lifetime has
// passed, retrying failures with a bounded exponential back-off. It sleeps
// on timers between decisions and knows nothing of how the replacement is
// made or served.
//
// It must not open the CA or touch files itself: the caller's renew
// function does that, so the scheduler stays testable with a fake clock.
package renew
