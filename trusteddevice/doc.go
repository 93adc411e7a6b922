// Package trusteddevice issues, checks, lists and revokes "trust this
// device" tokens. A browser keeps a random token in a long-lived cookie;
// the store keeps only the token's SHA-256 with the user, a readable label
// and the device's dates. A trusted device skips the routine second factor
// at sign-in — never the first factor, never a step-up — and that policy
// is the caller's; this package only answers "is this token a live device
// of this user?".
package trusteddevice
