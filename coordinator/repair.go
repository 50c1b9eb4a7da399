package coordinator

import (
	"github.com/quorumkv/quorumkv/vclock"
)

// repairLater waits (in the background) for the pending answers of a read,
// merges every answer, and sends the merge to each replica whose copy
// differs. Concurrent repairs of one key are de-duplicated.
func (c *Coordinator) repairLater(key []byte, got []answer, answers <-chan answer, pending int) {
	if pending == 0 && allEqual(got) {
		return // every asked replica answered the same: nothing to repair
	}
	k := string(key)
	if _, busy := c.repairing.LoadOrStore(k, struct{}{}); busy {
		return
	}
	started := c.goBackground(func() {
		defer c.repairing.Delete(k)
		all := append([]answer(nil), got...)
		for ; pending > 0; pending-- {
			select {
			case a := <-answers:
				if a.err == nil {
					all = append(all, a)
				}
			case <-c.bg.Done():
				return
			}
		}
		c.repair(key, all)
	})
	if !started {
		c.repairing.Delete(k)
	}
}

// repair sends the merge of all answers to every replica that answered with
// a different copy.
func (c *Coordinator) repair(key []byte, all []answer) {
	var merged vclock.Clock
	for _, a := range all {
		merged = vclock.Sync(merged, a.clock)
	}
	if merged.IsEmpty() {
		return
	}
	for _, a := range all {
		if a.clock.Equal(merged) {
			continue
		}
		var err error
		if a.node == c.cfg.NodeID {
			_, _, err = c.cfg.Local.Apply(key, merged)
		} else {
			rctx, cancel := c.replicaCtx()
			err = c.cfg.Transport.Apply(rctx, a.node, key, merged)
			cancel()
		}
		if err != nil {
			c.repairFailed.Add(1)
			c.log.Debug("read repair failed", "node", a.node, "err", err)
			continue
		}
		c.repaired.Add(1)
	}
}

func allEqual(as []answer) bool {
	for _, a := range as[min(1, len(as)):] {
		if !a.clock.Equal(as[0].clock) {
			return false
		}
	}
	return true
}
