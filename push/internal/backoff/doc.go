// Package backoff makes clients that keep failing logins wait, for the
// push endpoint's Basic auth and the operations dashboard alike: it counts
// failures and attempts under way per key, doubles the wait up to a bound,
// and bounds the memory a scan of many addresses can take, without ever
// dropping a client that is waiting. It also says how a request's client is
// keyed (an IPv6 client by its /64). It must not check credentials itself,
// which is its callers' job.
package backoff
