package main

import (
	"context"
	"sync"
	"time"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/client"
	"github.com/quorumkv/quorumkv/security"
)

// eachMember runs fn against every up member of st (in parallel, one client
// per member, with the TLS files tls) and returns the errors by member index (nil where fn
// succeeded, errDown for down members).
func eachMember(ctx context.Context, st *api.RingStatusResponse, tls security.Files, fn func(ctx context.Context, i int, c *client.Client) error) []error {
	members := st.GetMembers()
	errs := make([]error, len(members))
	var wg sync.WaitGroup
	for i, m := range members {
		if !m.GetUp() {
			errs[i] = errDown
			continue
		}
		wg.Go(func() {
			c, err := client.New([]string{m.GetAddress()}, client.WithAttemptTimeout(time.Minute), client.WithTLS(tls))
			if err != nil {
				errs[i] = err
				return
			}
			defer c.Close()
			errs[i] = fn(ctx, i, c)
		})
	}
	wg.Wait()
	return errs
}

type downError struct{}

func (downError) Error() string { return "down" }

var errDown error = downError{}
