package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestParseVmRSS(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{name: "kB line", status: "Name:\tsamsa\nVmPeak:\t  9000 kB\nVmRSS:\t   18432 kB\nThreads:\t7\n", want: 18432 * 1024},
		{name: "no VmRSS (a zombie)", status: "Name:\tsamsa\nState:\tZ (zombie)\n", wantErr: true},
		{name: "unexpected unit", status: "VmRSS:\t 18 MB\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseVmRSS(strings.NewReader(tt.status), "status")
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %d, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("parseVmRSS = %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

func TestResidentBytesOfThisProcess(t *testing.T) {
	rss, err := residentBytes(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss < 1<<20 {
		t.Fatalf("this test process has %d resident bytes, implausibly few", rss)
	}
}

func TestParseLoadAverage(t *testing.T) {
	if got := parseLoadAverage("0.52 1.03 2.50 1/123 4567\n"); !slices.Equal(got, []float64{0.52, 1.03, 2.5}) {
		t.Fatalf("got %v", got)
	}
	if got := parseLoadAverage("garbage"); got != nil {
		t.Fatalf("got %v from garbage, want nil", got)
	}
}
