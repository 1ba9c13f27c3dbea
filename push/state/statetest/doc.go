// Package statetest holds the contract every implementation of package
// state's interfaces must pass: each implementation's tests call Store or
// Devices with a way to open a fresh one. It is imported by tests only.
package statetest
