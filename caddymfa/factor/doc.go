// Package factor is the vocabulary shared by the second factors: their type
// names, their RFC 8176 amr values and the errors a code check ends with.
// Each factor's logic lives in a subpackage (totp, recovery).
package factor
