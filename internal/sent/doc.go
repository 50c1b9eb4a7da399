// Package sent tells whether a gRPC call's request left this process. A
// call that failed before its headers were handed to a live connection
// cannot have run on the server, so a caller may send it to another node
// even when running it twice would be wrong (a write). The answer comes
// from gRPC's own events (a stats handler), never from an error's text.
package sent
