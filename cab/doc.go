// Package cab writes and reads Microsoft cabinet (MS-CAB) files, stored or
// MSZIP-compressed, and signs and verifies them with Authenticode.
//
// It owns the byte format only: provisioning documents, device profiles and
// certificates come from its callers. It imports no other pushca package, so
// it can be lifted out or fuzzed alone, and it never reads files or the
// network; the one outside input it consults is SOURCE_DATE_EPOCH, and only
// when Options.SourceDateEpoch asks for it.
package cab
