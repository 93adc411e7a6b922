package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// countInstructions is the -instructions mode. Caddy runs under Valgrind's
// callgrind, which counts every instruction it executes (all its threads,
// the collector's included). Each round sends o.instructions requests to
// each site, one at a time on one connection, and reads what Caddy
// executed for them. The count hardly moves with how busy the machine is,
// so it settles differences of a few per cent that CPU time on a noisy box
// cannot; it does not see cache misses or system call time, so it is a
// complement to the wrk rounds, not a replacement.
func countInstructions(sites [3]site, header func() ([]string, error), o options, caddy *caddyProcess, dir string) error {
	pid := strconv.Itoa(caddy.cmd.Process.Pid)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1, DisableCompression: true}}
	fmt.Printf("instructions: Caddy under callgrind, %d requests per site and round, one at a time\n", o.instructions)
	counts := map[string][]float64{}
	err := eachRound(o, sites, header, func(round int, s site, h []string) error {
		// One request first, uncounted: the connection is open and the
		// session cached before the count starts.
		if err := sendRequests(client, s.url(), h, 1); err != nil {
			return err
		}
		if err := callgrindControl("-z", pid); err != nil {
			return err
		}
		if err := sendRequests(client, s.url(), h, o.instructions); err != nil {
			return err
		}
		ir, dump, err := dumpInstructions(pid, dir)
		if err != nil {
			return err
		}
		if o.pprofDir != "" && round == o.rounds {
			if err := keepDump(dump, filepath.Join(o.pprofDir, s.name+".callgrind")); err != nil {
				return err
			}
		}
		per := float64(ir) / float64(o.instructions)
		counts[s.name] = append(counts[s.name], per)
		fmt.Printf("round %d %-5s %9.0f instructions/request\n", round, s.name, per)
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Printf("\nmedians of %d rounds, and against plain round by round (median, 95 %% CI):\n", o.rounds)
	plain := counts[sites[0].name]
	for _, s := range sites {
		diff := make([]float64, len(plain))
		for i, p := range plain {
			diff[i] = counts[s.name][i] - p
		}
		fmt.Printf("  %-5s %9.0f instructions/request   %s\n", s.name, medianCI(counts[s.name], "%.0f").median, medianCI(diff, "%+.0f"))
	}
	if o.pprofDir != "" {
		fmt.Printf("callgrind counts of each site's last round: %s/<site>.callgrind (callgrind_annotate --inclusive=yes)\n", o.pprofDir)
	}
	return nil
}

func keepDump(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o644)
}

// sendRequests sends n GETs with header lines h and wants 200 for each.
func sendRequests(client *http.Client, url string, h []string, n int) error {
	for range n {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		for _, line := range h {
			name, value, _ := strings.Cut(line, ": ")
			req.Header.Set(name, value)
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("answered %s", resp.Status)
		}
	}
	return nil
}

func callgrindControl(arg, pid string) error {
	out, err := exec.Command("callgrind_control", arg, pid).CombinedOutput()
	if err != nil {
		return fmt.Errorf("callgrind_control %s: %v: %s", arg, err, out)
	}
	return nil
}

// dumpInstructions has callgrind write its counts since the last zeroing
// and returns their total and the file they are in.
func dumpInstructions(pid, dir string) (int64, string, error) {
	before, _ := filepath.Glob(filepath.Join(dir, "callgrind."+pid+".*"))
	if err := callgrindControl("-d", pid); err != nil {
		return 0, "", err
	}
	after, _ := filepath.Glob(filepath.Join(dir, "callgrind."+pid+".*"))
	if len(after) != len(before)+1 {
		return 0, "", fmt.Errorf("callgrind wrote %d dumps, want 1", len(after)-len(before))
	}
	newest, n := "", -1
	for _, f := range after {
		if k, err := strconv.Atoi(f[strings.LastIndexByte(f, '.')+1:]); err == nil && k > n {
			newest, n = f, k
		}
	}
	ir, err := readSummary(newest)
	return ir, newest, err
}

// readSummary returns the total a callgrind dump gives on its summary
// line.
func readSummary(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "summary:"); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no summary line in %s", path)
}
