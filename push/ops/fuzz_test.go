package ops

import (
	"testing"

	"github.com/pushca/pushca/push/state"
)

func FuzzParseDeliverRequest(f *testing.F) {
	f.Add([]byte(`{"user":"CORP\\alice","subject":"s","body":"b"}`))
	f.Add([]byte(`{"user":"alice"} {}`))
	f.Add([]byte(`{"user":"alice","x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		req, err := ParseDeliverRequest(data)
		if err != nil {
			return
		}
		if n, err := state.NormalizeUser(req.User); err != nil || n != req.User || req.Subject == "" {
			t.Fatalf("accepted %q as %+v", data, req)
		}
	})
}
