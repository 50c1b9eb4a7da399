package node

import (
	"errors"
	"fmt"
	"slices"

	"github.com/quorumkv/quorumkv/httpadmin"
	"github.com/quorumkv/quorumkv/ring"
)

// startHTTP opens the admin HTTP port (Config.HTTP; package httpadmin). A
// port the node derived itself (Config.HTTPDerived) that cannot be bound
// is logged and left off; one the operator gave is an error.
func (n *Node) startHTTP() error {
	if n.cfg.HTTP == "" {
		return nil
	}
	s, err := httpadmin.Listen(n.cfg.HTTP, httpadmin.Handler(n, n.metrics.reg))
	if err != nil {
		if n.cfg.HTTPDerived {
			n.log.Warn("admin HTTP port not opened (give --http to choose one)", "addr", n.cfg.HTTP, "err", err)
			return nil
		}
		return fmt.Errorf("node: --http %s: %w", n.cfg.HTTP, err)
	}
	n.httpMu.Lock()
	n.http = s
	n.httpMu.Unlock()
	return nil
}

func (n *Node) stopHTTP() {
	n.httpMu.Lock()
	s := n.http
	n.http = nil
	n.httpMu.Unlock()
	if s != nil {
		s.Close()
	}
}

// HTTPAddr is the admin HTTP port's address ("" when off).
func (n *Node) HTTPAddr() string {
	n.httpMu.Lock()
	defer n.httpMu.Unlock()
	if n.http == nil {
		return ""
	}
	return n.http.Addr()
}

// errDraining: the node is stopping.
var errDraining = errors.New("draining")

// Ready is nil when the node is a valid member of a formed ring with its
// store open, else why not (the admin port's /readyz).
func (n *Node) Ready() error {
	select {
	case <-n.draining:
		return errDraining
	default:
	}
	if n.store == nil || n.members == nil {
		return errors.New("starting: stores not open")
	}
	v := n.members.View()
	if v == nil || v.Ring == nil || len(v.Ring.Members()) == 0 {
		return errors.New("no ring formed yet")
	}
	st := n.members.StateOf(n.cfg.ID)
	if !slices.Contains(v.Ring.Members(), n.cfg.ID) || st != ring.StateValid {
		return fmt.Errorf("this node is %s, not a valid member of the ring (epoch %d)", st, v.Epoch)
	}
	return nil
}
