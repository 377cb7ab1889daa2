//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/app"
)

// gatewayTraffic stands in for the ingress gateway's Envoy: it splits perSecond requests between
// the engine's two Services by the weights the live VirtualService gives its api route, as the
// gateway would, and serves the Istio request metrics the gateway would report for them
// (reporter source, the gateway's namespace), answering a canaryErrors share of the canary's
// requests with a 503. Prometheus scrapes it.
type gatewayTraffic struct {
	addr string
	mu   sync.Mutex
	// perSecond and canaryErrors are what the test sets.
	perSecond, canaryErrors float64
	// canaryWeight is the api route's share for the canary, as last read from the cluster.
	canaryWeight int
	// counts are the cumulative requests by Service and response code.
	counts map[[2]string]float64
}

func startGatewayTraffic(t *testing.T, k clients) *gatewayTraffic {
	t.Helper()
	g := &gatewayTraffic{counts: map[[2]string]float64{}}
	srv := httptest.NewServer(http.HandlerFunc(g.serveMetrics))
	t.Cleanup(srv.Close)
	g.addr = strings.TrimPrefix(srv.URL, "http://")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go g.followWeights(ctx, k)
	go g.send(ctx)
	return g
}

// set changes the request rate and the canary's share of 5xx answers; a rate of 0 also drops
// every series, as a gateway that was never scraped would have none.
func (g *gatewayTraffic) set(perSecond, canaryErrors float64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.perSecond, g.canaryErrors = perSecond, canaryErrors
	if perSecond == 0 {
		clear(g.counts)
	}
}

// followWeights reads the api route's canary weight every 200 ms.
func (g *gatewayTraffic) followWeights(ctx context.Context, k clients) {
	for ctx.Err() == nil {
		if w, err := apiRouteWeights(ctx, k); err == nil {
			g.mu.Lock()
			g.canaryWeight = w[app.CanaryService]
			g.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// send counts the requests of every tenth of a second.
func (g *gatewayTraffic) send(ctx context.Context) {
	const tick = 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(tick):
		}
		g.mu.Lock()
		n := g.perSecond * tick.Seconds()
		canary := n * float64(g.canaryWeight) / 100
		if n > 0 {
			g.counts[[2]string{app.StableService, "200"}] += n - canary
			g.counts[[2]string{app.CanaryService, "200"}] += canary * (1 - g.canaryErrors)
			g.counts[[2]string{app.CanaryService, "503"}] += canary * g.canaryErrors
		}
		g.mu.Unlock()
	}
}

func (g *gatewayTraffic) serveMetrics(w http.ResponseWriter, _ *http.Request) {
	g.mu.Lock()
	keys := make([][2]string, 0, len(g.counts))
	for key := range g.counts {
		keys = append(keys, key)
	}
	sort.Slice(keys, func(i, j int) bool { return slices.Compare(keys[i][:], keys[j][:]) < 0 })
	var b strings.Builder
	b.WriteString("# TYPE istio_requests_total counter\n")
	for _, key := range keys {
		fmt.Fprintf(&b, "istio_requests_total{reporter=%q,source_workload=%q,source_workload_namespace=%q,destination_service_namespace=%q,destination_service_name=%q,response_code=%q} %f\n",
			"source", "istio-ingressgateway", gatewayNamespace, namespace, key[0], key[1], g.counts[key])
	}
	g.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain; version=0.0.4")
	_, _ = w.Write([]byte(b.String()))
}

// apiRouteWeights are the weights by destination host of the live VirtualService's api route.
func apiRouteWeights(ctx context.Context, k clients) (map[string]int, error) {
	vs, err := k.dyn.Resource(virtualServiceGVR).Namespace(namespace).Get(ctx, app.RoutesName, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	return routeWeightsOf(vs.Object)
}

// routeWeightsOf reads the api route's weights by destination host from a VirtualService.
func routeWeightsOf(vs map[string]any) (map[string]int, error) {
	var obj struct {
		Spec struct {
			HTTP []struct {
				Name  string `json:"name"`
				Route []struct {
					Destination struct {
						Host string `json:"host"`
					} `json:"destination"`
					Weight int `json:"weight"`
				} `json:"route"`
			} `json:"http"`
		} `json:"spec"`
	}
	if err := fromUnstructured(vs, &obj); err != nil {
		return nil, err
	}
	for _, r := range obj.Spec.HTTP {
		if r.Name != "api" {
			continue
		}
		weights := map[string]int{}
		for _, d := range r.Route {
			weights[d.Destination.Host] = d.Weight
		}
		return weights, nil
	}
	return nil, fmt.Errorf("VirtualService %s has no api route", app.RoutesName)
}

// alertReceiver is an Alertmanager API on loopback that records the alerts Prometheus sends it:
// what the stack's receiver would be notified of.
type alertReceiver struct {
	addr   string
	mu     sync.Mutex
	firing map[string]bool
}

func startAlertReceiver(t *testing.T) *alertReceiver {
	t.Helper()
	r := &alertReceiver{firing: map[string]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodPost || req.URL.Path != "/api/v2/alerts" {
			http.NotFound(w, req)
			return
		}
		var alerts []struct {
			Labels map[string]string `json:"labels"`
			EndsAt time.Time         `json:"endsAt"`
		}
		if err := json.NewDecoder(req.Body).Decode(&alerts); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, a := range alerts {
			r.firing[a.Labels["alertname"]] = a.EndsAt.IsZero() || a.EndsAt.After(time.Now())
		}
		r.mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	r.addr = strings.TrimPrefix(srv.URL, "http://")
	return r
}

// waitAlert waits until the receiver was last told that alert is firing (want) or resolved.
func (r *alertReceiver) waitAlert(t *testing.T, alert string, want bool, timeout time.Duration) {
	t.Helper()
	eventually(t, timeout, fmt.Sprintf("receiver notified of %s (firing %v)", alert, want), func(context.Context) (bool, string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		firing, told := r.firing[alert]
		return told && firing == want, fmt.Sprintf("alerts received: %v", r.firing)
	})
}
