package node

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/hashicorp/memberlist"
)

// gossipKeyringFile is the file in the data directory that keeps the
// gossip keys installed at run time (primary first), so a restart keeps a
// rotation.
const gossipKeyringFile = "gossip.keyring"

// GossipKeyOp is a gossip key rotation step.
type GossipKeyOp string

const (
	GossipKeyInstall GossipKeyOp = "install" // accept messages encrypted with the key
	GossipKeyUse     GossipKeyOp = "use"     // encrypt with the key (it must be installed)
	GossipKeyRemove  GossipKeyOp = "remove"  // stop accepting the key (not the one in use)
	GossipKeyList    GossipKeyOp = "list"    // change nothing
)

// ErrNoGossipEncryption: the node was started without a gossip key, so
// there is no keyring to change.
var ErrNoGossipEncryption = errors.New("gossip encryption is off on this node (start it with --gossip-key)")

// gossipKeys is the node's memberlist keyring and its file.
type gossipKeys struct {
	mu   sync.Mutex
	ring *memberlist.Keyring
	path string
}

// openGossipKeys builds the keyring: the keys kept in the data directory
// (a rotation survives restarts), with key (the --gossip-key) added if it
// is not among them; key is primary only when nothing was kept. Nil when
// there is neither.
func openGossipKeys(dir string, key []byte) (*gossipKeys, error) {
	path := filepath.Join(dir, gossipKeyringFile)
	kept, err := readKeyring(path)
	if err != nil {
		return nil, err
	}
	if len(kept) == 0 && key == nil {
		return nil, nil
	}
	keys := kept
	if key != nil && !slices.ContainsFunc(keys, func(k []byte) bool { return string(k) == string(key) }) {
		keys = append(keys, key)
	}
	ring, err := memberlist.NewKeyring(keys, keys[0])
	if err != nil {
		return nil, fmt.Errorf("node: gossip keys: %w", err)
	}
	g := &gossipKeys{ring: ring, path: path}
	return g, g.save()
}

func readKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var enc []string
	if err := json.Unmarshal(b, &enc); err != nil {
		return nil, fmt.Errorf("node: %s: %w", path, err)
	}
	keys := make([][]byte, 0, len(enc))
	for _, e := range enc {
		k, err := base64.StdEncoding.DecodeString(e)
		if err != nil {
			return nil, fmt.Errorf("node: %s: %w", path, err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// save writes the keys, primary first, replacing the file atomically.
func (g *gossipKeys) save() error {
	keys := g.ring.GetKeys()
	enc := make([]string, len(keys))
	for i, k := range keys {
		enc[i] = base64.StdEncoding.EncodeToString(k)
	}
	b, err := json.Marshal(enc)
	if err != nil {
		return err
	}
	tmp := g.path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, g.path)
}

// apply runs op with key and returns the fingerprints of the keys
// installed, the one in use first.
func (g *gossipKeys) apply(op GossipKeyOp, key []byte) ([]string, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var err error
	switch op {
	case GossipKeyInstall:
		err = g.ring.AddKey(key)
	case GossipKeyUse:
		err = g.ring.UseKey(key)
	case GossipKeyRemove:
		err = g.ring.RemoveKey(key)
	case GossipKeyList:
	default:
		err = fmt.Errorf("unknown gossip key operation %q", op)
	}
	if err != nil {
		return nil, err
	}
	if op != GossipKeyList {
		if err := g.save(); err != nil {
			return nil, err
		}
	}
	var out []string
	for _, k := range g.ring.GetKeys() {
		out = append(out, KeyFingerprint(k))
	}
	return out, nil
}

// KeyFingerprint names a gossip key without showing it: the first 8 bytes
// of its SHA-256, in hex.
func KeyFingerprint(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// ParseGossipKey decodes a gossip key: base64 of 16, 24 or 32 bytes.
func ParseGossipKey(s string) ([]byte, error) {
	k, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("gossip key: not base64: %w", err)
	}
	switch len(k) {
	case 16, 24, 32:
		return k, nil
	}
	return nil, fmt.Errorf("gossip key: %d bytes, want 16, 24 or 32", len(k))
}

// keyring is the gossip keyring (nil without gossip encryption).
func (n *Node) keyring() *memberlist.Keyring {
	if n.gossipKeys == nil {
		return nil
	}
	return n.gossipKeys.ring
}

// GossipKey changes the node's gossip keys (see GossipKeyOp) and returns
// the fingerprints of those installed, the one in use first.
func (n *Node) GossipKey(op GossipKeyOp, key []byte) ([]string, error) {
	if n.gossipKeys == nil {
		return nil, ErrNoGossipEncryption
	}
	return n.gossipKeys.apply(op, key)
}
