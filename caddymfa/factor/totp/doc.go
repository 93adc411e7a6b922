// Package totp implements time-based one-time passwords (RFC 6238) as the
// authenticator apps speak them: secrets, otpauth:// URIs, QR codes and code
// verification with a skew window.
//
// Codes are computed with github.com/pquerna/otp's hotp package; replay
// protection is ours. Verify never accepts a step at or below the last step
// the caller recorded, and returns the step it matched so the caller can
// record it atomically (store.Store.UseStep). Two concurrent requests with the
// same code both pass Verify; the store lets exactly one of them record it.
package totp
