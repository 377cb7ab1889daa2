//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv3 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v3"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	kmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cryptotracker/ctmd/infra/app"
	"github.com/cryptotracker/ctmd/infra/cluster"
	"github.com/cryptotracker/ctmd/infra/config"
	"github.com/cryptotracker/ctmd/infra/mesh"
	"github.com/cryptotracker/ctmd/infra/stack"
)

// TestIstioRevisionUpgrade walks Istio's revision-based canary upgrade through pulumi up, with the
// loopback repository serving the same charts under two versions (env.istioVersion and
// env.istioNextVersion: one chart commit, two labels, so this proves ctmd's choreography, not a
// real version change): start a canary, roll it back, start it again and finish it.
func TestIstioRevisionUpgrade(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	from, to := env.istioVersion, env.istioNextVersion
	s := newStack(t, "e2e-upgrade", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:istioVersion":          {Value: from},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	})
	t.Cleanup(func() { _, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(out)) })
	up := func(what string) {
		t.Helper()
		if _, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out)); err != nil {
			t.Fatalf("up (%s): %v", what, err)
		}
	}
	setCanary := func(version string) {
		t.Helper()
		var err error
		if version == "" {
			err = s.RemoveConfig(ctx, "ctmd:istioCanaryVersion")
		} else {
			err = s.SetConfig(ctx, "ctmd:istioCanaryVersion", auto.ConfigValue{Value: version})
		}
		if err != nil {
			t.Fatal(err)
		}
	}

	up("install " + from)
	checkRevisions(t, k, []string{from}, from, from)

	setCanary(to)
	up("start the canary " + to)
	checkRevisions(t, k, []string{from, to}, from, to)

	setCanary("")
	up("roll back to " + from)
	checkRevisions(t, k, []string{from}, from, from)

	setCanary(to)
	up("start the canary again")
	setCanary("")
	if err := s.SetConfig(ctx, "ctmd:istioVersion", auto.ConfigValue{Value: to}); err != nil {
		t.Fatal(err)
	}
	up("finish the upgrade to " + to)
	checkRevisions(t, k, []string{to}, to, to)
	s.assertNoOp(t, out)
}

// checkRevisions: exactly the control planes of versions run; Istio's default revision (what
// validates Istio resources) is defaultVersion's; the gateway, the app namespace and the running
// marketdata pods are on workloadVersion's.
func checkRevisions(t *testing.T, k clients, versions []string, defaultVersion, workloadVersion string) {
	t.Helper()
	ctx := t.Context()
	var want []string
	for _, v := range versions {
		want = append(want, "istiod-"+mesh.Revision(v))
	}
	eventually(t, 2*time.Minute, fmt.Sprintf("control planes %v available", want), func(ctx context.Context) (bool, string) {
		list, err := k.kube.AppsV1().Deployments("istio-system").List(ctx, kmetav1.ListOptions{LabelSelector: "app=istiod"})
		if err != nil {
			return false, err.Error()
		}
		var got []string
		for _, d := range list.Items {
			if d.Status.AvailableReplicas > 0 {
				got = append(got, d.Name)
			}
		}
		slices.Sort(got)
		return slices.Equal(got, want) && len(list.Items) == len(want), fmt.Sprintf("available %v of %d", got, len(list.Items))
	})

	vwc, err := k.kube.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, "istiod-default-validator", kmetav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc := vwc.Webhooks[0].ClientConfig.Service; svc == nil || svc.Name != "istiod-"+mesh.Revision(defaultVersion) {
		t.Errorf("default revision validator calls %+v, want istiod-%s", svc, mesh.Revision(defaultVersion))
	}

	rev := mesh.Revision(workloadVersion)
	ns, err := k.kube.CoreV1().Namespaces().Get(ctx, namespace, kmetav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ns.Labels[app.RevisionLabel] != rev || ns.Labels["istio-injection"] != "" {
		t.Errorf("namespace %s labels %v, want %s=%s and no istio-injection", namespace, ns.Labels, app.RevisionLabel, rev)
	}
	eventually(t, 2*time.Minute, "gateway pods on revision "+rev, func(ctx context.Context) (bool, string) {
		pods, err := k.kube.CoreV1().Pods("istio-ingress").List(ctx, kmetav1.ListOptions{LabelSelector: "istio=ingressgateway"})
		if err != nil {
			return false, err.Error()
		}
		for _, p := range pods.Items {
			if p.Labels[app.RevisionLabel] != rev && p.DeletionTimestamp == nil {
				return false, fmt.Sprintf("pod %s on revision %q", p.Name, p.Labels[app.RevisionLabel])
			}
		}
		return len(pods.Items) > 0, "no gateway pod"
	})
	// Sidecars come at pod creation: the pods running must be from a template naming the revision.
	eventually(t, 2*time.Minute, "marketdata pods from a template on revision "+rev, func(ctx context.Context) (bool, string) {
		sets, err := k.kube.AppsV1().ReplicaSets(namespace).List(ctx, kmetav1.ListOptions{LabelSelector: "app=marketdata"})
		if err != nil {
			return false, err.Error()
		}
		var running []string
		for _, rs := range sets.Items {
			if rs.Status.ReadyReplicas > 0 {
				running = append(running, rs.Name+" on "+rs.Spec.Template.Annotations[app.RevisionAnnotation])
				if rs.Spec.Template.Annotations[app.RevisionAnnotation] != rev {
					return false, "running: " + strings.Join(running, ", ")
				}
			}
		}
		return len(running) > 0, "no ready ReplicaSet"
	})
	analyzeMesh(t, "revision move to "+workloadVersion, onRevision(rev))
}

// TestIstioLayoutMigration: a stack made before control planes had revisions and before ctmd
// rendered Istio's charts itself (Helm releases istio-base, istiod and istio-ingressgateway,
// namespace istio-injection=enabled) moves to the current layout with a plain up: the new control
// plane is running before the old one is removed, and the charts take base's and the gateway's
// objects over in place (a deleted release would run helm uninstall and remove them).
func TestIstioLayoutMigration(t *testing.T) {
	mainCluster.hold(t)
	ctx := t.Context()
	k := newClients(t)
	out := &transcript{}
	s := newStack(t, "e2e-migrate", auto.ConfigMap{
		"ctmd:target":                {Value: "existing"},
		"ctmd:istioChartRepository":  {Value: env.chartRepo},
		"ctmd:image":                 {Value: image},
		"ctmd:mongoConnectionString": {Value: connection, Secret: true},
	})
	t.Cleanup(func() { _, _ = s.Destroy(context.Background(), optdestroy.ProgressStreams(out)) })

	s.Workspace().SetProgram(legacyLayout)
	if _, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out)); err != nil {
		t.Fatalf("up with the pre-revision layout: %v", err)
	}
	if _, err := k.kube.AppsV1().Deployments("istio-system").Get(ctx, "istiod", kmetav1.GetOptions{}); err != nil {
		t.Fatalf("the pre-revision layout has no istiod Deployment: %v", err)
	}
	before := readyReplicaSets(t, k)
	kept := uids(t, k)

	s.Workspace().SetProgram(stack.Deploy)
	steps := make(chan events.EngineEvent)
	var order []string
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range steps {
			switch {
			case ev.ResOutputsEvent != nil && slices.Contains([]string{chartType, legacyReleaseType}, ev.ResOutputsEvent.Metadata.Type):
				order = append(order, string(ev.ResOutputsEvent.Metadata.Op)+" "+urnName(ev.ResOutputsEvent.Metadata.URN))
			}
		}
	}()
	_, err := s.Up(ctx, optup.EventStreams(steps), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
	<-done
	if err != nil {
		t.Fatalf("up with the revision layout: %v", err)
	}
	created := slices.Index(order, string(apitype.OpCreate)+" istiod-"+mesh.Revision(config.DefaultIstioVersion))
	deleted := slices.Index(order, string(apitype.OpDelete)+" istiod")
	if created < 0 || deleted < 0 || created > deleted {
		t.Errorf("release steps %v: want the new control plane created before the old one is deleted", order)
	}
	for _, adopted := range []string{"istio-base", mesh.GatewayRelease} {
		if slices.Contains(order, string(apitype.OpDelete)+" "+adopted) {
			t.Errorf("release steps %v: the release %s was deleted, which uninstalls it", order, adopted)
		}
	}
	if after := uids(t, k); !maps.Equal(kept, after) {
		t.Errorf("objects recreated by the move to charts: before %v, after %v", kept, after)
	}
	checkRevisions(t, k, []string{config.DefaultIstioVersion}, config.DefaultIstioVersion, config.DefaultIstioVersion)
	if after := readyReplicaSets(t, k); slices.Equal(before, after) {
		t.Errorf("marketdata still runs ReplicaSets %v: its pods keep the old control plane's sidecars", after)
	}
	s.assertNoOp(t, out)
}

func readyReplicaSets(t *testing.T, k clients) []string {
	t.Helper()
	sets, err := k.kube.AppsV1().ReplicaSets(namespace).List(t.Context(), kmetav1.ListOptions{LabelSelector: "app=marketdata"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, rs := range sets.Items {
		if rs.Status.ReadyReplicas > 0 {
			names = append(names, rs.Name)
		}
	}
	slices.Sort(names)
	return names
}

// legacyLayout is the program as it was before control planes had revisions, frozen here with the
// same component and resource names (so the same URNs) as a stack made then: base with the
// "default" revision, one release istiod, the gateway, and the app injected by istio-injection.
func legacyLayout(ctx *pulumi.Context) error {
	cfg, err := config.Load(ctx)
	if err != nil {
		return err
	}
	target, err := cluster.Existing(ctx, cfg)
	if err != nil {
		return err
	}
	m := &struct{ pulumi.ResourceState }{}
	if err := ctx.RegisterComponentResource("ctmd:mesh:Istio", "istio", m); err != nil {
		return err
	}
	opts := []pulumi.ResourceOption{pulumi.Parent(m), pulumi.Provider(target.Provider)}
	namespaces := map[string]pulumi.StringOutput{}
	for _, name := range []string{"istio-system", "istio-ingress"} {
		ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name)}}, opts...)
		if err != nil {
			return err
		}
		namespaces[name] = ns.Metadata.Name().Elem()
	}
	release := func(name, chart, namespace string, values pulumi.Map, after ...pulumi.Resource) (*helmv3.Release, error) {
		return helmv3.NewRelease(ctx, name, &helmv3.ReleaseArgs{
			Name: pulumi.String(name), Chart: pulumi.String(chart), Version: pulumi.String(cfg.IstioVersion),
			Namespace: namespaces[namespace], RepositoryOpts: &helmv3.RepositoryOptsArgs{Repo: pulumi.String(cfg.IstioChartRepository)},
			Values: values, Timeout: pulumi.Int(600), CleanupOnFail: pulumi.Bool(true),
		}, append(opts, pulumi.DependsOn(after))...)
	}
	base, err := release("istio-base", "base", "istio-system", pulumi.Map{"defaultRevision": pulumi.String("default")})
	if err != nil {
		return err
	}
	istiod, err := release("istiod", "istiod", "istio-system", pulumi.Map{
		"meshConfig": pulumi.Map{"outboundTrafficPolicy": pulumi.Map{"mode": pulumi.String(cfg.OutboundTrafficPolicy)}},
	}, base)
	if err != nil {
		return err
	}
	if _, err := release(mesh.GatewayRelease, "gateway", "istio-ingress", pulumi.Map{
		"labels":  pulumi.Map{"istio": pulumi.String("ingressgateway")},
		"service": pulumi.Map{"type": pulumi.String("LoadBalancer")},
	}, istiod); err != nil {
		return err
	}
	_, err = app.New(ctx, "marketdata", app.Args{
		Provider: target.Provider, Image: pulumi.String(cfg.Image), Replicas: cfg.Replicas,
		MongoConnectionString: cfg.MongoConnectionString, MongoHosts: cfg.MongoHosts,
		IngressPrincipals: cfg.IngressPrincipals, Mesh: []pulumi.Resource{istiod},
	})
	return err
}

// uids identifies the objects the move from Helm releases to charts must keep in place: the CRDs
// (deleting one deletes every Istio resource of its kind) and the gateway's Deployment and Service
// (the public address).
func uids(t *testing.T, k clients) map[string]string {
	t.Helper()
	ctx := t.Context()
	ids := map[string]string{}
	for _, gvr := range meshGVRs {
		crd, err := k.dyn.Resource(crdGVR).Get(ctx, gvr.Resource+"."+gvr.Group, kmetav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ids["crd "+crd.GetName()] = string(crd.GetUID())
	}
	dep, err := k.kube.AppsV1().Deployments("istio-ingress").Get(ctx, mesh.GatewayRelease, kmetav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := k.kube.CoreV1().Services("istio-ingress").Get(ctx, mesh.GatewayRelease, kmetav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ids["gateway deployment"], ids["gateway service"] = string(dep.UID), string(svc.UID)
	return ids
}
