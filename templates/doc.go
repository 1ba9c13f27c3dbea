// Package templates owns the embedded templates: certificate templates in
// go.step.sm/crypto x509util JSON (files/x509), Windows Mobile provisioning
// XML (files/wm), Apple plists (files/ios), Android instructions
// (files/android), HTML sheets and pages (files/html), nginx, Apache and
// HAProxy configuration (files/server), systemd units (files/systemd), and
// the loader that reads them.
//
// It holds nothing but templates and their loader: no rendering logic, no
// knowledge of devices, no I/O outside the embedded filesystem.
package templates
