//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// drainTimeout bounds a drain: kubectl gives up (and the test fails) when the evictions the
// budgets refuse are not allowed within it.
const drainTimeout = 2 * time.Minute

// servingGroup is a set of pods that must keep serving, and how many must stay ready.
type servingGroup struct {
	name, namespace, selector string
	minReady                  int
}

// The gateway (the public address), istiod (sidecar injection, configuration) and the app, which
// must keep replicas - maxUnavailable of its budget.
var servingGroups = []servingGroup{
	{"gateway", "istio-ingress", "istio=ingressgateway", 1},
	{"istiod", "istio-system", "app=istiod", 1},
	{"marketdata", namespace, "app=marketdata", replicas - 1},
}

// TestNodeDrain drains the node that runs the gateway and istiod pods, as GKE does to every node
// it upgrades, first with the charts' availability (one replica, no budget: the test must see the
// moment with no gateway), then with the stack's defaults (two replicas, budgets), where at least
// one gateway, one istiod and the app's budget stay ready at every moment and the drain completes
// within drainTimeout.
func TestNodeDrain(t *testing.T) {
	migrateCluster.hold(t)
	ctx := t.Context()
	k := clientsOf(t, migrateCluster)
	out := &transcript{}
	s := migrateCluster.newStack(t, "e2e-drain", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:installIstio":          {Value: "true"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
		// What the charts run by default: one replica each, hence no budget.
		"ctmd:gatewayMinReplicas": {Value: "1"},
		"ctmd:istiodMinReplicas":  {Value: "1"},
	})
	// The default dev stack: everything on the one node.
	first := onlyNode(t, k)
	// The cluster is left as found for the next test: one schedulable node.
	t.Cleanup(func() {
		destroy(t, k, s, out)
		restoreNodes(t, k, first)
	})
	mustUp(t, s, out)
	waitServing(t, k, map[string]int{"gateway": 1, "istiod": 1, "marketdata": replicas})
	// GKE's surge upgrade: a new node, then the old one drained.
	second := addNode(t, k, "kwok-node-1")

	t.Run("chart defaults: the drain leaves no gateway", func(t *testing.T) {
		report := drainSampled(t, k, nodeOf(t, k, servingGroups[0]))
		if report.lowest["gateway"] != 0 {
			t.Fatalf("with one gateway replica and no budget the drain must leave a moment with no ready gateway pod; it saw %v", report.lowest)
		}
		t.Logf("as expected, no ready gateway pod %s", report.zero["gateway"])
	})

	// The stack's defaults. The first node stays cordoned, so the new replicas join the others on
	// the second one: the drain below must then take two of each from one node, the case the
	// budgets are for (spreading makes it rarer, not impossible).
	if err := s.RemoveAllConfig(ctx, []string{"ctmd:gatewayMinReplicas", "ctmd:istiodMinReplicas"}); err != nil {
		t.Fatal(err)
	}
	mustUp(t, s, out)
	waitServing(t, k, map[string]int{"gateway": 2, "istiod": 2, "marketdata": replicas})
	checkBudgets(t, k)
	uncordon(t, k, first)

	t.Run("two replicas and budgets: serving throughout", func(t *testing.T) {
		drained := nodeOf(t, k, servingGroups[0])
		if drained != second || nodeOf(t, k, servingGroups[1]) != second {
			t.Fatalf("gateway on %s, want both gateways and both istiods on %s", drained, second)
		}
		report := drainSampled(t, k, drained)
		for _, g := range servingGroups {
			if report.lowest[g.name] < g.minReady {
				t.Errorf("%s: %d ready at the worst moment (none %s), want at least %d", g.name, report.lowest[g.name], report.zero[g.name], g.minReady)
			}
		}
		t.Logf("fewest ready pods during the drain: %v", report.lowest)
	})
	s.assertNoOp(t, out)
}

// drainReport is what the sampler saw: the fewest ready pods of each group, and when a group
// first had none.
type drainReport struct {
	lowest map[string]int
	zero   map[string]string
}

// drainSampled drains node with kubectl (cordon, then evictions through the Eviction API, retried
// while a budget refuses them) and watches every pod change of the serving groups meanwhile, so
// no moment between two changes goes unseen.
func drainSampled(t *testing.T, k clients, node string) drainReport {
	t.Helper()
	report := drainReport{lowest: map[string]int{}, zero: map[string]string{}}
	var mu sync.Mutex
	var store cache.Store
	sample := func(why string) {
		mu.Lock()
		defer mu.Unlock()
		for _, g := range servingGroups {
			n := readyPods(store, g)
			if low, seen := report.lowest[g.name]; !seen || n < low {
				report.lowest[g.name] = n
			}
			if n == 0 && report.zero[g.name] == "" {
				report.zero[g.name] = fmt.Sprintf("after %s at %s", why, time.Now().Format(time.RFC3339Nano))
			}
		}
	}
	event := func(what string) func(any) {
		return func(obj any) {
			if p, ok := obj.(*corev1.Pod); ok {
				sample(fmt.Sprintf("%s %s/%s", what, p.Namespace, p.Name))
			} else {
				sample(what)
			}
		}
	}
	var informer cache.Controller
	store, informer = cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: cache.NewListWatchFromClient(k.kube.CoreV1().RESTClient(), "pods", metav1.NamespaceAll, fields.Everything()),
		ObjectType:    &corev1.Pod{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    event("add"),
			UpdateFunc: func(_, obj any) { event("update")(obj) },
			DeleteFunc: event("delete"),
		},
	})
	stop := make(chan struct{})
	defer close(stop)
	go informer.Run(stop)
	if !cache.WaitForCacheSync(t.Context().Done(), informer.HasSynced) {
		t.Fatal("pod informer did not sync")
	}
	sample("start")

	cmd := exec.CommandContext(t.Context(), "kubectl", "--kubeconfig", k.kubeconfig, "drain", node,
		"--ignore-daemonsets", "--delete-emptydir-data", "--timeout", drainTimeout.String())
	start := time.Now()
	if output, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl drain %s (after %s): %v\n%s", node, time.Since(start).Round(time.Second), err, output)
	}
	t.Logf("kubectl drain %s completed in %s", node, time.Since(start).Round(time.Second))
	// The last evicted pods' replacements become ready after the drain returns: wait for them,
	// still sampling, so a late gap would count too.
	waitServing(t, k, nil)
	sample("end")
	mu.Lock()
	defer mu.Unlock()
	return drainReport{lowest: maps.Clone(report.lowest), zero: maps.Clone(report.zero)}
}

// readyPods counts a group's pods that serve: Ready and not terminating (an evicted pod leaves
// the Service's endpoints as soon as it is marked for deletion).
func readyPods(store cache.Store, g servingGroup) int {
	selector, err := labels.Parse(g.selector)
	if err != nil {
		panic(err) // the groups are constants
	}
	n := 0
	for _, obj := range store.List() {
		p := obj.(*corev1.Pod)
		if p.Namespace == g.namespace && selector.Matches(labels.Set(p.Labels)) && p.DeletionTimestamp == nil && podReady(p) {
			n++
		}
	}
	return n
}

func podReady(p *corev1.Pod) bool {
	return slices.ContainsFunc(p.Status.Conditions, func(c corev1.PodCondition) bool {
		return c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue
	})
}

// waitServing waits until each group named in want has that many ready pods, or, with want nil,
// until every Deployment of the serving groups has all its replicas ready and up to date.
func waitServing(t *testing.T, k clients, want map[string]int) {
	t.Helper()
	eventually(t, 2*time.Minute, "serving pods ready", func(ctx context.Context) (bool, string) {
		for _, g := range servingGroups {
			list, err := k.kube.CoreV1().Pods(g.namespace).List(ctx, metav1.ListOptions{LabelSelector: g.selector})
			if err != nil {
				return false, err.Error()
			}
			ready := 0
			for i := range list.Items {
				if p := &list.Items[i]; p.DeletionTimestamp == nil && podReady(p) {
					ready++
				}
			}
			if n, named := want[g.name]; named && ready != n {
				return false, fmt.Sprintf("%s: %d ready pods, want %d", g.name, ready, n)
			}
		}
		if want != nil {
			return true, ""
		}
		for _, g := range servingGroups {
			deps, err := k.kube.AppsV1().Deployments(g.namespace).List(ctx, metav1.ListOptions{LabelSelector: g.selector})
			if err != nil {
				return false, err.Error()
			}
			for _, d := range deps.Items {
				if d.Spec.Replicas == nil || d.Status.ReadyReplicas != *d.Spec.Replicas || d.Status.UpdatedReplicas != *d.Spec.Replicas {
					return false, fmt.Sprintf("deployment %s/%s: %+v", d.Namespace, d.Name, d.Status)
				}
			}
		}
		return true, ""
	})
}

// checkBudgets: the gateway and istiod have a budget that lets one pod go at a time, and the
// disruption controller counts their pods (so its selector matches them).
func checkBudgets(t *testing.T, k clients) {
	t.Helper()
	for _, g := range servingGroups[:2] {
		eventually(t, time.Minute, g.name+" budget", func(ctx context.Context) (bool, string) {
			pods, err := k.kube.CoreV1().Pods(g.namespace).List(ctx, metav1.ListOptions{LabelSelector: g.selector})
			if err != nil || len(pods.Items) == 0 {
				return false, fmt.Sprintf("pods of %s: %v", g.name, err)
			}
			budgets, err := k.kube.PolicyV1().PodDisruptionBudgets(g.namespace).List(ctx, metav1.ListOptions{})
			if err != nil {
				return false, err.Error()
			}
			var seen []string
			for _, pdb := range budgets.Items {
				seen = append(seen, pdb.Name)
				sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
				if err != nil || !sel.Matches(labels.Set(pods.Items[0].Labels)) {
					continue
				}
				if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 {
					return false, fmt.Sprintf("budget %s maxUnavailable %v, want 1", pdb.Name, pdb.Spec.MaxUnavailable)
				}
				return pdb.Status.ExpectedPods == 2 && pdb.Status.DisruptionsAllowed == 1,
					fmt.Sprintf("budget %s status %+v", pdb.Name, pdb.Status)
			}
			return false, fmt.Sprintf("no budget selects the %s pods (budgets: %v)", g.name, seen)
		})
	}
}

// onlyNode returns the cluster's one node: the test starts from the default one-node stack.
func onlyNode(t *testing.T, k clients) string {
	t.Helper()
	nodes, err := k.kube.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes.Items) != 1 {
		t.Fatalf("%d nodes, want the one hack/cluster.sh starts", len(nodes.Items))
	}
	return nodes.Items[0].Name
}

// addNode adds a fake node (test/kwok/node.yaml's twin, which kwok manages by its annotation)
// and waits until it is Ready.
func addNode(t *testing.T, k clients, name string) string {
	t.Helper()
	ctx := t.Context()
	template, err := k.kube.CoreV1().Nodes().Get(ctx, onlyNode(t, k), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
		Labels:      maps.Clone(template.Labels),
	}, Status: corev1.NodeStatus{Allocatable: template.Status.Allocatable, Capacity: template.Status.Capacity}}
	node.Labels["kubernetes.io/hostname"] = name
	if _, err := k.kube.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "node "+name+" ready", func(ctx context.Context) (bool, string) {
		n, err := k.kube.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, string(c.Status)
			}
		}
		return false, "no Ready condition"
	})
	return name
}

// nodeOf returns the node running a group's pods, failing unless they all run on one.
func nodeOf(t *testing.T, k clients, g servingGroup) string {
	t.Helper()
	list, err := k.kube.CoreV1().Pods(g.namespace).List(t.Context(), metav1.ListOptions{LabelSelector: g.selector})
	if err != nil {
		t.Fatal(err)
	}
	nodes := map[string]bool{}
	for _, p := range list.Items {
		nodes[p.Spec.NodeName] = true
	}
	if len(nodes) != 1 {
		t.Fatalf("%s pods on nodes %v, want one node", g.name, slices.Sorted(maps.Keys(nodes)))
	}
	return slices.Collect(maps.Keys(nodes))[0]
}

func uncordon(t *testing.T, k clients, node string) {
	t.Helper()
	patch := []byte(`{"spec":{"unschedulable":false}}`)
	if _, err := k.kube.CoreV1().Nodes().Patch(t.Context(), node, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Fatalf("uncordon %s: %v", node, err)
	}
}

// restoreNodes removes every node but keep and makes keep schedulable again.
func restoreNodes(t *testing.T, k clients, keep string) {
	ctx := context.Background()
	nodes, err := k.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Errorf("listing nodes: %v", err)
		return
	}
	for _, n := range nodes.Items {
		if n.Name != keep {
			if err := k.kube.CoreV1().Nodes().Delete(ctx, n.Name, metav1.DeleteOptions{}); err != nil {
				t.Errorf("removing node %s: %v", n.Name, err)
			}
		}
	}
	patch := []byte(`{"spec":{"unschedulable":false}}`)
	if _, err := k.kube.CoreV1().Nodes().Patch(ctx, keep, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		t.Errorf("uncordon %s: %v", keep, err)
	}
}
