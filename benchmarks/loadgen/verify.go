package main

// The verify workload, for the soak test: mixed load (72 % reads, 25 % writes, 3 %
// deletes) in which every answer is checked against the last acknowledged write.
//
// Worker w owns the keys whose index is w modulo the number of workers and is the only
// one to touch them, one request at a time, so it knows exactly what each key must hold:
// absent at the start (the keys must be fresh: use a new -prefix), then the body of its
// last 201 or nothing after its last 204. Every written value is unique (worker and
// sequence number in its first 16 bytes), so a lost write cannot pass for an older one.
// After the run, every key is read back once more; a key whose outcome is unknown (a
// write that failed or timed out) is not, and that failure already counts as an error.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

type verifier struct {
	client  *http.Client
	base    string
	keys    []string
	values  [][]byte
	workers []verifyWorker
	lost    atomic.Int64
	checked atomic.Int64
	mu      sync.Mutex
	fails   []string
}

type verifyWorker struct {
	own      []int          // indexes of the keys it owns
	expected map[int][]byte // key index -> value it must hold (absent: none)
	unknown  map[int]bool   // keys whose state a failed write left uncertain
	seq      uint64
}

func newVerifier(client *http.Client, base string, keys []string, values [][]byte, conns int) *verifier {
	v := &verifier{client: client, base: base, keys: keys, values: values, workers: make([]verifyWorker, conns)}
	for w := range v.workers {
		v.workers[w] = verifyWorker{expected: map[int][]byte{}, unknown: map[int]bool{}}
	}
	for i := range keys {
		w := &v.workers[i%conns]
		w.own = append(w.own, i)
	}
	return v
}

func (v *verifier) url(i int) string { return v.base + strings.ReplaceAll(v.keys[i], ":", "%3A") }

// errText describes a transport error without its URL, which holds the key: session
// keys are credentials, and failures end up in test output.
func errText(err error) string {
	if err == nil {
		return ""
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Op + ": " + ue.Err.Error()
	}
	return err.Error()
}

// fail records a failure (the first 10 in full; keys by index only).
func (v *verifier) fail(format string, args ...any) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.fails) < 10 {
		v.fails = append(v.fails, fmt.Sprintf(format, args...))
	}
}

// do sends one request of worker w on one of its keys and checks the answer.
func (v *verifier) do(w int, r *mrand.Rand) (int, bool) {
	st := &v.workers[w]
	if len(st.own) == 0 {
		return 0, true
	}
	k := st.own[r.IntN(len(st.own))]
	want, present := st.expected[k]
	p := r.IntN(100)
	switch {
	case p < 72:
		s, body, err := send(v.client, op{method: "GET", path: v.url(k)})
		switch {
		case err != nil:
			v.fail("GET key #%d: %s", k, errText(err))
			return 0, false
		case st.unknown[k]:
			return s, s == 200 || s == 404
		case present && (s != 200 || !bytes.Equal(body, want)):
			v.fail("GET key #%d: %d, not the last value written", k, s)
			return s, false
		case !present && s != 404:
			v.fail("GET key #%d: %d, absent expected", k, s)
			return s, false
		}
		return s, true
	case p < 97:
		st.seq++
		value := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, uint64(w)), st.seq)
		value = append(value, v.values[r.IntN(len(v.values))]...)
		s, _, err := send(v.client, op{method: "POST", path: v.url(k), body: value})
		if err != nil || s != 201 {
			st.unknown[k] = true
			v.fail("POST key #%d: %d %s", k, s, errText(err))
			return s, false
		}
		st.expected[k] = value
		delete(st.unknown, k)
		return s, true
	default:
		s, _, err := send(v.client, op{method: "DELETE", path: v.url(k)})
		if err != nil || s != 204 {
			st.unknown[k] = true
			v.fail("DELETE key #%d: %d %s", k, s, errText(err))
			return s, false
		}
		delete(st.expected, k)
		delete(st.unknown, k)
		return s, true
	}
}

// report reads every key with a known state back and adds the counts to res.
func (v *verifier) report(res *result) {
	var wg sync.WaitGroup
	for w := range v.workers {
		wg.Add(1)
		go func(st *verifyWorker) {
			defer wg.Done()
			for _, k := range st.own {
				if st.unknown[k] {
					continue
				}
				want, present := st.expected[k]
				s, body, err := send(v.client, op{method: "GET", path: v.url(k)})
				v.checked.Add(1)
				if err != nil || (present && (s != 200 || !bytes.Equal(body, want))) || (!present && s != 404) {
					v.lost.Add(1)
					v.fail("read-back of key #%d: %d %s", k, s, errText(err))
				}
			}
		}(&v.workers[w])
	}
	wg.Wait()
	checked, lost := v.checked.Load(), v.lost.Load()
	res.Verified, res.Lost, res.Failures = &checked, &lost, v.fails
}
