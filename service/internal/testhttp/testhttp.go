// Package testhttp makes one HTTP request for a test and returns the whole answer.
package testhttp

import (
	"io"
	"net/http"
	"testing"
)

// Response is what tests look at in an answer.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends method url with the given header name/value pairs (a name given twice is sent as two
// field lines) and reads the whole body; any transport error fails the test.
func Do(t testing.TB, method, url string, header ...string) Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Add(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return Response{Status: resp.StatusCode, Header: resp.Header, Body: string(body)}
}
