package handlers

import (
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestCheckAnswered: a controller answer with other than one result per
// request entry fails the whole request as UNKNOWN_SERVER_ERROR, saying how
// many it answered.
func TestCheckAnswered(t *testing.T) {
	for _, c := range []struct {
		got, want int
		wantErr   string // the error message's end; "" for none
	}{
		{3, 3, ""},
		{0, 0, ""},
		{2, 3, "controller answered 2 of 3 partitions"},
		{4, 3, "controller answered 4 of 3 partitions"},
	} {
		err := checkAnswered(c.got, c.want, "partitions")
		if c.wantErr == "" {
			if err != nil {
				t.Errorf("checkAnswered(%d, %d) = %v, want nil", c.got, c.want, err)
			}
			continue
		}
		if !isErr(err, kerr.UnknownServerError) || !strings.HasSuffix(err.Error(), c.wantErr) {
			t.Errorf("checkAnswered(%d, %d) = %v, want one ending %q", c.got, c.want, err, c.wantErr)
		}
	}
}
