package main

import (
	"os"
	"testing"
)

func TestReadSummary(t *testing.T) {
	dir := t.TempDir()
	dump := dir + "/callgrind.1.1"
	os.WriteFile(dump, []byte("# callgrind format\nversion: 1\nevents: Ir\nfn=(1) main\n3 7\nsummary: 390894661\ntotals: 390894661\n"), 0o600)
	if ir, err := readSummary(dump); err != nil || ir != 390894661 {
		t.Errorf("readSummary = %d, %v; want the summary line's 390894661", ir, err)
	}
	os.WriteFile(dump, []byte("events: Ir\ntotals: 5\n"), 0o600)
	if _, err := readSummary(dump); err == nil {
		t.Error("a dump without a summary line read as a count")
	}
}
