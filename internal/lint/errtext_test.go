package lint

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// textFuncs are the strings functions that decide on a text.
var textFuncs = map[string]bool{
	"Contains": true, "ContainsAny": true, "HasPrefix": true, "HasSuffix": true,
	"EqualFold": true, "Index": true, "Cut": true,
}

// isErrorText reports a call x.Error() or x.Message(): an error's text.
func isErrorText(e ast.Expr) bool {
	call, ok := ast.Unparen(e).(*ast.CallExpr)
	if !ok || len(call.Args) != 0 {
		return false
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	return ok && (sel.Sel.Name == "Error" || sel.Sel.Name == "Message")
}

// errorTextDecisions lists the places in f that compare an error's text.
func errorTextDecisions(fset *token.FileSet, f *ast.File) []string {
	var out []string
	report := func(n ast.Node, what string) {
		out = append(out, fset.Position(n.Pos()).String()+": "+what)
	}
	ast.Inspect(f, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.CallExpr:
			sel, ok := n.Fun.(*ast.SelectorExpr)
			if pkg, isIdent := selX(sel); ok && isIdent && pkg == "strings" && textFuncs[sel.Sel.Name] {
				for _, a := range n.Args {
					if isErrorText(a) {
						report(n, "strings."+sel.Sel.Name+" on an error's text")
					}
				}
			}
		case *ast.BinaryExpr:
			if (n.Op == token.EQL || n.Op == token.NEQ) && (isErrorText(n.X) || isErrorText(n.Y)) {
				report(n, "comparison of an error's text")
			}
		case *ast.SwitchStmt:
			if n.Tag != nil && isErrorText(n.Tag) {
				report(n, "switch on an error's text")
			}
		}
		return true
	})
	return out
}

func selX(sel *ast.SelectorExpr) (string, bool) {
	if sel == nil {
		return "", false
	}
	id, ok := sel.X.(*ast.Ident)
	if !ok {
		return "", false
	}
	return id.Name, true
}

// TestNoDecisionOnErrorText: no production code decides on an error's
// message (retry safety and the like switch on types and reasons).
func TestNoDecisionOnErrorText(t *testing.T) {
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir("../..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") && path != "../.." || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || strings.HasSuffix(path, ".pb.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		found = append(found, errorTextDecisions(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range found {
		t.Error(f)
	}
}

// TestLintCatchesErrorText: the check finds each kind of decision.
func TestLintCatchesErrorText(t *testing.T) {
	src := `package p
import "strings"
func f(err error, st interface{ Message() string }) bool {
	if err.Error() == "x" { return true }
	switch st.Message() { case "y": return true }
	return strings.Contains(st.Message(), "while dialing")
}`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := errorTextDecisions(fset, f); len(got) != 3 {
		t.Fatalf("found %d decisions, want 3: %v", len(got), got)
	}
}
