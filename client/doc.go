// Package client is the Go client of quorumkv.
//
// Endpoints are seeds: any node serves any request. The client sends each
// request to a preferred endpoint and fails over to the next one when a node
// cannot be reached, so it never stays stuck on a dead node. Failures come
// back as typed errors (ErrNotFound, *UnavailableError with the quorum
// numbers, ErrInvalidArgument, *TooManySiblingsError); the causal context
// travels as an opaque token.
//
//	c, err := client.New([]string{"127.0.0.1:7101", "127.0.0.1:7102"})
//	res, err := c.Get(ctx, []byte("k"), client.WithLevel(client.Quorum))
//	_, err = c.Put(ctx, []byte("k"), []byte("v"), client.WithContext(res.Context))
package client
