// Package registry owns the rules of service discovery over the store: the
// key an instance lives under (svc/{<service>}/<id>: one key group per
// service, so a service's instances share a partition), the instance's
// encoding, what a valid name, id and address are, and the instance set a
// watch keeps. It is pure; the node serves it (node/registry.go).
package registry
