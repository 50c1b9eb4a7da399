package coordinator

import (
	"fmt"
	"strings"
)

// Level is a named consistency level.
type Level int

// Consistency levels. LevelDefault means QUORUM.
const (
	LevelDefault Level = iota
	LevelOne
	LevelTwo
	LevelThree
	LevelQuorum
	LevelAll
)

var levelNames = [...]string{"default", "one", "two", "three", "quorum", "all"}

func (l Level) String() string {
	if l < 0 || int(l) >= len(levelNames) {
		return fmt.Sprintf("level(%d)", int(l))
	}
	return levelNames[l]
}

// ParseLevel parses one|two|three|quorum|all (any case).
func ParseLevel(s string) (Level, error) {
	for i, n := range levelNames[1:] {
		if strings.EqualFold(s, n) {
			return Level(i + 1), nil
		}
	}
	return 0, fmt.Errorf("%w: unknown consistency level %q (want one, two, three, quorum or all)", ErrInvalidArgument, s)
}

// Consistency is what one request asks for.
type Consistency struct {
	Level Level
	// Count, when non-zero, is an explicit R or W and overrides Level.
	Count int
	// Strict forbids fallback replicas from counting toward the quorum.
	Strict bool
}

func (c Consistency) String() string {
	s := c.Level.String()
	if c.Level == LevelDefault {
		s = LevelQuorum.String()
	}
	if c.Count > 0 {
		s = fmt.Sprintf("%d", c.Count)
	}
	if c.Strict {
		s += ",strict"
	}
	return s
}

// Required is how many replicas out of n must answer. It never silently
// lowers a level: asking for more than n is an error.
func (c Consistency) Required(n int) (int, error) {
	if n < 1 {
		return 0, fmt.Errorf("%w: replication factor %d", ErrInvalidArgument, n)
	}
	if c.Count < 0 {
		return 0, fmt.Errorf("%w: negative replica count %d", ErrInvalidArgument, c.Count)
	}
	need := c.Count
	if need == 0 {
		switch c.Level {
		case LevelOne:
			need = 1
		case LevelTwo:
			need = 2
		case LevelThree:
			need = 3
		case LevelDefault, LevelQuorum:
			need = n/2 + 1
		case LevelAll:
			need = n
		default:
			return 0, fmt.Errorf("%w: unknown consistency level %d", ErrInvalidArgument, int(c.Level))
		}
	}
	if need > n {
		return 0, fmt.Errorf("%w: consistency %s needs %d replicas but the cluster keeps %d", ErrInvalidArgument, c, need, n)
	}
	return need, nil
}
