package challengepage

import (
	"net/url"
	"strings"
	"testing"
)

func TestRetryIn(t *testing.T) {
	tests := []struct {
		seconds int
		want    string
	}{
		{0, "a moment"},
		{1, "1 second"},
		{45, "45 seconds"},
		{60, "1 minute"},
		{61, "2 minutes"},
		{290, "5 minutes"},
		{300, "5 minutes"},
		{900, "15 minutes"},
		{3600, "1 hour"},
		{3601, "2 hours"},
		{47 * 3600, "47 hours"},
		{48 * 3600, "2 days"},
	}
	for _, tc := range tests {
		if got := retryIn(tc.seconds); got != tc.want {
			t.Errorf("retryIn(%d) = %q, want %q", tc.seconds, got, tc.want)
		}
	}
}

func TestGroupSecret(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"ABC", "ABC"},
		{"ABCD", "ABCD"},
		{"JBSWY3DPEHPK3PXP", "JBSW Y3DP EHPK 3PXP"},
		{"JBSWY3DPEHPK3PXPA", "JBSW Y3DP EHPK 3PXP A"},
		{" JBSW Y3DP\nEHPK ", "JBSW Y3DP EHPK"},
	}
	for _, tc := range tests {
		if got := groupSecret(tc.in); got != tc.want {
			t.Errorf("groupSecret(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPlural(t *testing.T) {
	tests := []struct {
		n    int
		want string
	}{{0, "0 days"}, {1, "1 day"}, {2, "2 days"}, {30, "30 days"}}
	for _, tc := range tests {
		if got := plural(tc.n, "day"); got != tc.want {
			t.Errorf("plural(%d) = %q, want %q", tc.n, got, tc.want)
		}
	}
}

func TestTextFileURL(t *testing.T) {
	tests := []struct {
		name   string
		brand  brand
		header string
	}{
		{"named", brand{Title: "Acme #1 & co", Named: true}, "Recovery codes for Acme #1 & co\n"},
		{"default title not used", brand{Title: defaultTitle}, "Recovery codes\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := string(textFileURL(tc.brand, []string{"aaaa-bbbb", "cccc-dddd"}))
			const prefix = "data:text/plain;charset=utf-8,"
			if !strings.HasPrefix(u, prefix) || strings.ContainsAny(u, "# \n") {
				t.Fatalf("not a well-formed data URL: %q", u)
			}
			body, err := url.PathUnescape(strings.TrimPrefix(u, prefix))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(body, tc.header) || !strings.HasSuffix(body, "\n\naaaa-bbbb\ncccc-dddd\n") {
				t.Errorf("file body %q", body)
			}
		})
	}
}
