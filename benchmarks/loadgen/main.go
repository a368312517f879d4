// loadgen: an HTTP load generator for Firkin's benchmarks, standard library only.
//
// Two modes:
//   - closed loop (-rate 0): -c connections each send the next request as soon as the
//     previous answer arrives; finds the maximum throughput.
//   - open loop (-rate R): requests are scheduled at a fixed rate whatever the server
//     does, and each latency is measured from its scheduled start, so a stall is
//     charged to every request it delays (no coordinated omission).
//
// Never pipelines: one request per connection at a time, keep-alive.
// Workloads: get (pure reads of prefilled keys), post (pure writes), mixed (about
// 3 reads per write, plus a few deletes and conditional writes), fixed (GET one URL),
// verify (mixed, checking every answer against the last acknowledged write; see verify.go),
// prefill (POST every key once: Kask answers POST, not PUT).
// Prints one JSON object with throughput, latency percentiles and error counts; with
// -phases, first a line {"phase":"measure"} when the measured part starts (after the
// warm-up), so a caller can sample the server's CPU over exactly that window.
package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Mode       string             `json:"mode"`
	Workload   string             `json:"workload"`
	OfferedRPS float64            `json:"offered_rps"`
	Requests   int64              `json:"requests"`
	Errors     int64              `json:"errors"`
	Statuses   map[string]int64   `json:"statuses"`
	Seconds    float64            `json:"seconds"`
	RPS        float64            `json:"rps"`
	LatencyMs  map[string]float64 `json:"latency_ms"`
	// open loop: scheduled requests never sent because the run fell more than
	// lateGrace behind its schedule (a stalled server must not stretch a run for hours)
	Missed int64 `json:"missed"`
	// verify workload only
	Verified *int64   `json:"verified,omitempty"`
	Lost     *int64   `json:"lost,omitempty"`
	Failures []string `json:"failures,omitempty"`
}

type op struct {
	method string
	path   string
	body   []byte
	header map[string]string
	ok     func(status int) bool
}

func main() {
	base := flag.String("url", "http://127.0.0.1:8081/sessions/v1/", "namespace base URL (or the fixed URL for -workload fixed)")
	workload := flag.String("workload", "get", "get | post | mixed | verify | fixed | prefill")
	conns := flag.Int("c", 32, "connections")
	rate := flag.Float64("rate", 0, "requests per second (0: closed loop)")
	duration := flag.Duration("d", 10*time.Second, "measured duration")
	warmup := flag.Duration("warmup", 2*time.Second, "unmeasured warm-up before it")
	keys := flag.Int("keys", 20000, "size of the key set")
	prefix := flag.String("prefix", "enwiki:MWSession:", "key prefix")
	conditional := flag.Bool("conditional", true, "mixed: send the adds with If-None-Match: * (false: as plain POSTs of new keys, for a server without conditional writes)")
	phases := flag.Bool("phases", false, `print {"phase":"measure"} when the measured part starts`)
	flag.Parse()
	switch *workload {
	case "get", "post", "mixed", "fixed", "prefill":
	case "verify":
		// Each connection owns its keys; a warm-up's findings would not count as errors.
		if *keys < *conns || *warmup > 0 {
			fmt.Fprintln(os.Stderr, "loadgen: -workload verify needs -keys >= -c and -warmup 0")
			os.Exit(2)
		}
	default:
		fmt.Fprintf(os.Stderr, "loadgen: unknown -workload %q\n", *workload)
		os.Exit(2)
	}

	keyList := make([]string, *keys)
	for i := range keyList {
		keyList[i] = fmt.Sprintf("%s%032x", *prefix, uint64(i)*0x9E3779B97F4A7C15)
	}
	values := make([][]byte, 64)
	for i := range values {
		v := make([]byte, 1024+mrand.IntN(1024))
		rand.Read(v)
		values[i] = v
	}
	transport := &http.Transport{
		MaxIdleConns: *conns, MaxIdleConnsPerHost: *conns, MaxConnsPerHost: *conns,
		DisableCompression: true, IdleConnTimeout: 30 * time.Second,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}
	client := &http.Client{Transport: transport, Timeout: 10 * time.Second}
	// Idle connections close before the server's keep-alive timeout (Firkin: 65 s) can
	// close them under a request that would then fail.

	if *workload == "prefill" {
		prefill(client, *base, keyList, values, *conns)
		return
	}
	var do func(w int, r *mrand.Rand) (int, bool)
	var v *verifier
	if *workload == "verify" {
		v = newVerifier(client, *base, keyList, values, *conns)
		do = v.do
	} else {
		next := generator(*workload, *base, *prefix, keyList, values, *conditional)
		do = func(_ int, r *mrand.Rand) (int, bool) {
			o := next(r)
			s, _, err := send(client, o)
			return s, err == nil && o.ok(s)
		}
	}
	if *warmup > 0 {
		drive(do, *conns, *rate, *warmup, false)
	}
	if *phases {
		fmt.Println(`{"phase":"measure"}`)
	}
	r := drive(do, *conns, *rate, *duration, true)
	r.Workload = *workload
	if v != nil {
		v.report(&r)
	}
	json.NewEncoder(os.Stdout).Encode(r)
}

func is2xx(s int) bool { return s >= 200 && s < 300 }

func generator(workload, base, prefix string, keys []string, values [][]byte, conditional bool) func(*mrand.Rand) op {
	var addHeader map[string]string
	if conditional {
		addHeader = map[string]string{"If-None-Match": "*"}
	}
	url := func(k string) string { return base + strings.ReplaceAll(k, ":", "%3A") }
	return func(r *mrand.Rand) op {
		k := keys[r.IntN(len(keys))]
		v := values[r.IntN(len(values))]
		switch workload {
		case "fixed":
			return op{method: "GET", path: base, ok: is2xx}
		case "get":
			return op{method: "GET", path: url(k), ok: is2xx}
		case "post":
			return op{method: "POST", path: url(k), body: v, ok: is2xx}
		default: // mixed: 72 % reads, 22 % writes, 3 % deletes, 3 % conditional adds
			p := r.IntN(100)
			switch {
			case p < 72:
				return op{method: "GET", path: url(k), ok: func(s int) bool { return s == 200 || s == 404 }}
			case p < 94:
				return op{method: "POST", path: url(k), body: v, ok: is2xx}
			case p < 97:
				return op{method: "DELETE", path: url(k), ok: is2xx}
			default:
				return op{method: "POST", path: url(fmt.Sprintf("%snew-%016x", prefix, r.Uint64())), body: v,
					header: addHeader, ok: func(s int) bool { return s == 201 || s == 412 }}
			}
		}
	}
}

// send sends o and returns the status and the body.
func send(client *http.Client, o op) (int, []byte, error) {
	var body io.Reader
	if o.body != nil {
		body = bytes.NewReader(o.body)
	}
	req, _ := http.NewRequest(o.method, o.path, body)
	if o.body != nil {
		req.Header.Set("Content-Type", "application/octet-stream")
	}
	for k, v := range o.header {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, b, err
}

func prefill(client *http.Client, base string, keys []string, values [][]byte, conns int) {
	var wg sync.WaitGroup
	var failed atomic.Int64
	ch := make(chan string)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ch {
				s, _, err := send(client, op{method: "POST", path: base + strings.ReplaceAll(k, ":", "%3A"), body: values[len(k)%len(values)]})
				if err != nil || s != 201 {
					failed.Add(1)
				}
			}
		}()
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	fmt.Printf("{\"prefilled\":%d,\"failed\":%d}\n", len(keys), failed.Load())
}

// lateGrace: how far behind its schedule an open loop may fall before it stops sending.
const lateGrace = 5 * time.Second

type sample struct {
	latency time.Duration
	status  int
	ok      bool
}

// drive runs do (one request by worker w; its status and whether it succeeded) on conns
// workers, in a closed loop (rate 0) or an open loop at rate, for d.
func drive(do func(w int, r *mrand.Rand) (int, bool), conns int, rate float64, d time.Duration, record bool) result {
	var mu sync.Mutex
	samples := make([]sample, 0, 1<<16)
	add := func(s sample) {
		if record {
			mu.Lock()
			samples = append(samples, s)
			mu.Unlock()
		}
	}
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	var slot atomic.Int64 // open loop: the next slot of the schedule
	var interval time.Duration
	if rate <= 0 {
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func(w int, seed uint64) {
				defer wg.Done()
				r := mrand.New(mrand.NewPCG(seed, 7))
				for time.Now().Before(deadline) {
					t0 := time.Now()
					s, ok := do(w, r)
					add(sample{time.Since(t0), s, ok})
				}
			}(i, uint64(i)+seedBase())
		}
	} else {
		// Open loop: a fixed schedule; workers take the next due slot. With every
		// connection busy, a slot waits, and that wait counts in its latency.
		interval = time.Duration(float64(time.Second) / rate)
		for i := 0; i < conns; i++ {
			wg.Add(1)
			go func(w int, seed uint64) {
				defer wg.Done()
				r := mrand.New(mrand.NewPCG(seed, 11))
				for {
					n := slot.Add(1) - 1
					due := start.Add(time.Duration(n) * interval)
					if !due.Before(deadline) || time.Now().After(deadline.Add(lateGrace)) {
						return
					}
					if wait := time.Until(due); wait > 0 {
						time.Sleep(wait)
					}
					s, ok := do(w, r)
					add(sample{time.Since(due), s, ok})
				}
			}(i, uint64(i)+seedBase())
		}
	}
	wg.Wait()
	elapsed := time.Since(start).Seconds()
	res := result{Mode: "closed", OfferedRPS: rate, Statuses: map[string]int64{}, Seconds: elapsed, LatencyMs: map[string]float64{}}
	if rate > 0 {
		res.Mode = "open"
		// Every worker took one last slot it did not send.
		scheduled := int64((d + interval - 1) / interval)
		if sent := slot.Load() - int64(conns); sent < scheduled {
			res.Missed = scheduled - sent
		}
	}
	lat := make([]float64, 0, len(samples))
	for _, s := range samples {
		res.Requests++
		if !s.ok {
			res.Errors++
		}
		res.Statuses[fmt.Sprint(s.status)]++
		lat = append(lat, float64(s.latency.Microseconds())/1000)
	}
	res.RPS = float64(res.Requests) / elapsed
	sort.Float64s(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		i := int(p * float64(len(lat)-1))
		return lat[i]
	}
	for name, p := range map[string]float64{"p50": .5, "p90": .9, "p99": .99, "p999": .999, "max": 1} {
		res.LatencyMs[name] = pct(p)
	}
	return res
}

func seedBase() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24
}
