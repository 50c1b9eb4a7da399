package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pureCores are the deterministic cores: no I/O, no clock, no goroutines.
// Their callers hand them state and take decisions back.
var pureCores = []string{
	"vclock/*.go",
	"ring/change.go", "ring/codec.go", "ring/config.go", "ring/member.go", "ring/meta.go",
	"ring/placement.go", "ring/plan.go", "ring/ring.go",
	"coordinator/quorum.go", "coordinator/consistency.go",
	"antientropy/tree.go", "antientropy/diff.go",
	"replica/disk.go",
	"node/refill.go",
	"internal/ringverdict/*.go",
	"discovery/peers.go",
	"security/roles.go", "security/config.go",
}

// impureImports are the packages (or package prefixes) a pure core must
// not import.
var impureImports = []string{
	"google.golang.org/grpc", "github.com/cockroachdb/pebble", "github.com/hashicorp/memberlist",
	"net", "os", "log", "log/slog",
}

func impure(path string) bool {
	for _, p := range impureImports {
		if path == p || strings.HasPrefix(path, p+"/") {
			return true
		}
	}
	return false
}

// impurities lists what in f a pure core must not do.
func impurities(fset *token.FileSet, f *ast.File) []string {
	var out []string
	for _, imp := range f.Imports {
		if p, _ := strconv.Unquote(imp.Path.Value); impure(p) {
			out = append(out, fset.Position(imp.Pos()).String()+": imports "+p)
		}
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, fset.Position(n.Pos()).String()+": starts a goroutine")
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && x.Name == "time" && (n.Sel.Name == "Now" || n.Sel.Name == "Since" || n.Sel.Name == "Until") {
				out = append(out, fset.Position(n.Pos()).String()+": reads the clock (time."+n.Sel.Name+")")
			}
		}
		return true
	})
	return out
}

// TestPureCoresStayPure: the pure cores import no I/O package, read no
// clock and start no goroutine.
func TestPureCoresStayPure(t *testing.T) {
	fset := token.NewFileSet()
	for _, pattern := range pureCores {
		files, err := filepath.Glob(filepath.Join("..", "..", pattern))
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", pattern, err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range impurities(fset, f) {
				t.Error(p)
			}
		}
	}
}

// TestLintCatchesImpurity: the check finds each kind of impurity.
func TestLintCatchesImpurity(t *testing.T) {
	src := `package p
import (
	"net"
	"time"
	"google.golang.org/grpc/codes"
)
func f() { go func() {}(); _ = time.Now(); _ = net.IPv4len; _ = codes.OK }`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := impurities(fset, f); len(got) != 4 {
		t.Fatalf("found %d impurities, want 4: %v", len(got), got)
	}
}
