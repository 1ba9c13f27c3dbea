// Package atomicfile writes files so that a crash leaves the old content or
// the new, never half of either: temp file in the same directory, fsync,
// rename, fsync of the directory. It also creates private directories (0700).
//
// It knows nothing of pushca's formats and must not import other pushca
// packages.
package atomicfile
