package client

import (
	"fmt"
	"testing"

	"github.com/cockroachdb/datadriven"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/quorumkv/quorumkv/api"
	"github.com/quorumkv/quorumkv/internal/sent"
)

// TestRetryDecision runs testdata/retry: for a failure (its gRPC code, the
// ErrorInfo reason a node gave, whether the request never left) and an
// operation, whether the client tries the next endpoint or gives up.
// Regenerate the expectations with -rewrite.
//
//	decide code=UNAVAILABLE [reason=SHUTTING_DOWN] [not-sent] op=read|write
func TestRetryDecision(t *testing.T) {
	datadriven.RunTest(t, "testdata/retry", func(t *testing.T, d *datadriven.TestData) string {
		if d.Cmd != "decide" {
			d.Fatalf(t, "unknown command %s", d.Cmd)
		}
		var codeName, reason, op string
		d.ScanArgs(t, "code", &codeName)
		d.ScanArgs(t, "op", &op)
		d.MaybeScanArgs(t, "reason", &reason)
		var code codes.Code
		if err := code.UnmarshalJSON([]byte(fmt.Sprintf("%q", codeName))); err != nil {
			d.Fatalf(t, "code %s: %v", codeName, err)
		}
		st := status.New(code, "failure")
		if reason != "" {
			var err error
			if st, err = st.WithDetails(&errdetails.ErrorInfo{Domain: api.Domain, Reason: reason}); err != nil {
				d.Fatalf(t, "%v", err)
			}
		}
		err := st.Err()
		if d.HasArg("not-sent") {
			err = sent.Wrap(err)
		}
		if nodeFailure(err, op == "read") {
			return "next endpoint"
		}
		return "give up"
	})
}
