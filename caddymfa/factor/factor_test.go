package factor

import "testing"

func TestAMR(t *testing.T) {
	tests := []struct {
		factorType string
		want       string
	}{
		{TypeTOTP, "otp"},
		{TypeRecoveryCode, "otp"},
		{"webauthn-typo", ""},
		{"", ""},
		{"TOTP", ""},
	}
	for _, tt := range tests {
		t.Run(tt.factorType, func(t *testing.T) {
			if got := AMR(tt.factorType); got != tt.want {
				t.Errorf("AMR(%q) = %q, want %q", tt.factorType, got, tt.want)
			}
		})
	}
}
