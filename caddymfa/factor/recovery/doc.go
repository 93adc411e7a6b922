// Package recovery makes and reads recovery codes: one-time passwords issued
// in advance, for the day the authenticator is lost. Only keyed hashes of
// the normalized codes are stored, so Normalize must map every way a person
// may type a code to the one form that was hashed.
package recovery
