package purity

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// pureFiles are the files of the pure cores, relative to the module root.
// Whole packages are given as dir/*.go (test files excluded); ring/ and
// antientropy/ also hold I/O code, so only their pure files are named.
var pureFiles = []string{
	"vclock/*.go",
	"ring/ring.go", "ring/placement.go", "ring/change.go", "ring/plan.go",
	"coordinator/quorum.go", "coordinator/consistency.go",
	"antientropy/tree.go", "antientropy/diff.go",
}

// bannedImports are import paths (and their subpackages) a pure core must
// not use.
var bannedImports = []string{
	"os", "net", "google.golang.org/grpc", "github.com/cockroachdb/pebble", "github.com/hashicorp/memberlist",
}

// bannedTimeCalls read or wait on the wall clock.
var bannedTimeCalls = map[string]bool{
	"Now": true, "Since": true, "Until": true, "Sleep": true, "After": true, "AfterFunc": true,
	"Tick": true, "NewTimer": true, "NewTicker": true,
}

func TestPureCoresDoNoIO(t *testing.T) {
	files := expand(t, pureFiles)
	if len(files) < len(pureFiles) {
		t.Fatalf("found %d files for %d patterns", len(files), len(pureFiles))
	}
	for _, name := range files {
		fset := token.NewFileSet()
		src, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range violations(fset, src) {
			t.Errorf("%s: %s", name, v)
		}
	}
}

// TestViolationsFound checks that the checker itself catches each kind of
// violation.
func TestViolationsFound(t *testing.T) {
	const src = `package p
import (
	"os"
	"net/http"
	clock "time"
	"google.golang.org/grpc/codes"
)
func f() {
	_ = clock.Now()
	_ = clock.Since(clock.Time{})
	go func() {}()
	_, _ = os.Args, http.StatusOK
	_ = codes.OK
}`
	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, "p.go", src, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	got := violations(fset, file)
	if len(got) != 6 {
		t.Fatalf("found %d violations, want 6: %q", len(got), got)
	}
}

// expand resolves the patterns against the module root, dropping tests.
func expand(t *testing.T, patterns []string) []string {
	t.Helper()
	var files []string
	for _, p := range patterns {
		matches, err := filepath.Glob(filepath.Join("..", "..", p))
		if err != nil || len(matches) == 0 {
			t.Fatalf("pattern %s matches no file (%v)", p, err)
		}
		for _, m := range matches {
			if !strings.HasSuffix(m, "_test.go") {
				files = append(files, m)
			}
		}
	}
	return files
}

// violations lists file's banned imports, clock reads and go statements.
func violations(fset *token.FileSet, file *ast.File) []string {
	var out []string
	timeName := ""
	for _, imp := range file.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if banned(path) {
			out = append(out, fmt.Sprintf("imports %s", path))
		}
		if path == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	ast.Inspect(file, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.GoStmt:
			out = append(out, fmt.Sprintf("%s: starts a goroutine", fset.Position(n.Pos())))
		case *ast.SelectorExpr:
			if x, ok := n.X.(*ast.Ident); ok && timeName != "" && x.Name == timeName && bannedTimeCalls[n.Sel.Name] {
				out = append(out, fmt.Sprintf("%s: uses time.%s", fset.Position(n.Pos()), n.Sel.Name))
			}
		}
		return true
	})
	return out
}

func banned(path string) bool {
	for _, b := range bannedImports {
		if path == b || strings.HasPrefix(path, b+"/") {
			return true
		}
	}
	return false
}
