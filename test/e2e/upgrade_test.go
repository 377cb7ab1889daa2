//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/auto"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/events"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optdestroy"
	"github.com/pulumi/pulumi/sdk/v3/go/auto/optup"
	"github.com/pulumi/pulumi/sdk/v3/go/common/apitype"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	kmetav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

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
	istioCluster.hold(t)
	ctx := t.Context()
	k := clientsOf(t, istioCluster)
	out := &transcript{}
	from, to := env.istioVersion, env.istioNextVersion
	s := istioCluster.newStack(t, "e2e-upgrade", auto.ConfigMap{
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
	analyzeMesh(t, "revision move to "+workloadVersion, onRevision(k, rev))
	checkProxiesAdmitted(t, k, versions)
}

// checkProxiesAdmitted: each control plane's injector is configured with the proxy image the app
// namespace's admission policy admits (the local cluster runs no injector: its sidecar-injector
// values are what it would inject from), and a pod carrying that proxy passes admission.
func checkProxiesAdmitted(t *testing.T, k clients, versions []string) {
	t.Helper()
	for _, v := range versions {
		cm, err := k.kube.CoreV1().ConfigMaps("istio-system").Get(t.Context(), "istio-sidecar-injector-"+mesh.Revision(v), kmetav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var values struct {
			Global struct {
				Hub, Tag string
				Proxy    struct{ Image string }
			}
		}
		if err := json.Unmarshal([]byte(cm.Data["values"]), &values); err != nil {
			t.Fatalf("injector values of %s: %v", v, err)
		}
		g := values.Global
		if injected := g.Hub + "/" + g.Proxy.Image + ":" + g.Tag; injected != mesh.ProxyImage(v) {
			t.Errorf("the %s injector injects %s, the policy admits %s", v, injected, mesh.ProxyImage(v))
		}
		if o, ok := injectedPod(t, k, image, mesh.ProxyImage(v)); !ok {
			t.Errorf("a pod with the %s proxy was refused:\n%s", v, o)
		}
	}
}

// TestIstioLayoutMigration: stacks made before ctmd rendered Istio's charts itself hold Helm
// releases, in one of two layouts: control planes by revision (istio-base, istiod-<revision>,
// istio-ingressgateway), or, before that, one release istiod and the namespace label
// istio-injection=enabled. Each moves to the current layout with a plain up: the charts take the
// releases' objects over in place (a deleted release would run helm uninstall and remove them),
// the pre-revision control plane is removed only once the new one runs, and the next up drops
// the old releases from the state.
func TestIstioLayoutMigration(t *testing.T) {
	migrateCluster.hold(t)
	rev := mesh.Revision(config.DefaultIstioVersion)
	for _, tt := range []struct {
		name      string
		revisions bool
		// deleted is the release the move uninstalls, after the chart that replaces it.
		deleted string
		// staged: the move starts with the README's targeted up of the cluster layer.
		staged bool
	}{
		{"Helm releases by revision, staged deploy", true, "", true},
		{"Helm releases before revisions", false, "istiod", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			k := clientsOf(t, migrateCluster)
			out := &transcript{}
			s := migrateCluster.newStack(t, "e2e-migrate", auto.ConfigMap{
				"ctmd:target":                {Value: "existing"},
				"ctmd:istioChartRepository":  {Value: env.chartRepo},
				"ctmd:image":                 {Value: image},
				"ctmd:mongoConnectionString": {Value: connection, Secret: true},
			})
			t.Cleanup(func() { destroy(t, k, s, out) })

			s.Workspace().SetProgram(legacyLayout(tt.revisions))
			helmOwnIstioCRDs(t, k)
			if _, err := s.Up(ctx, optup.ProgressStreams(out), optup.ErrorProgressStreams(out)); err != nil {
				t.Fatalf("up with the Helm releases: %v", err)
			}
			before := readyReplicaSets(t, k)
			kept := uids(t, k)

			s.Workspace().SetProgram(stack.Deploy)
			if tt.staged {
				stagedUp(t, s, out)
			}
			steps := make(chan events.EngineEvent)
			var order []string
			done := make(chan struct{})
			go func() {
				defer close(done)
				for ev := range steps {
					// A release's steps, and each object a chart applied (a chart has no step of
					// its own that ends when its objects are ready).
					switch res := ev.ResOutputsEvent; {
					case res == nil:
					case res.Metadata.Type == legacyReleaseType:
						order = append(order, string(res.Metadata.Op)+" "+urnName(res.Metadata.URN))
					case inChart(res.Metadata.URN):
						order = append(order, "applied "+chartOf(res.Metadata.URN))
					}
				}
			}()
			_, err := s.Up(ctx, optup.EventStreams(steps), optup.ProgressStreams(out), optup.ErrorProgressStreams(out))
			<-done
			if err != nil {
				t.Fatalf("up with the charts: %v", err)
			}
			for _, step := range order {
				if strings.HasPrefix(step, string(apitype.OpDelete)+" ") && step != string(apitype.OpDelete)+" "+tt.deleted {
					t.Errorf("release steps %v: %s uninstalls a release a chart took over", order, step)
				}
			}
			if tt.deleted != "" {
				running := slices.Index(order, "applied istiod-"+rev)
				for i, step := range order {
					if step == "applied istiod-"+rev {
						running = i
					}
				}
				deleted := slices.Index(order, string(apitype.OpDelete)+" "+tt.deleted)
				if running < 0 || deleted < 0 || running > deleted {
					t.Errorf("release steps %v: want the new control plane created before the old one is deleted", order)
				}
				if after := readyReplicaSets(t, k); slices.Equal(before, after) {
					t.Errorf("marketdata still runs ReplicaSets %v: its pods keep the old control plane's sidecars", after)
				}
			}
			if after := uids(t, k); !maps.Equal(kept, after) {
				t.Errorf("objects recreated by the move to charts: before %v, after %v", kept, after)
			}
			checkRevisions(t, k, []string{config.DefaultIstioVersion}, config.DefaultIstioVersion, config.DefaultIstioVersion)
			// The next up lets go of the releases' records in the state; then nothing changes.
			mustUp(t, s, out)
			if state := s.cli(t, "stack", "export"); strings.Contains(state, legacyReleaseType) {
				t.Errorf("the state still holds %s resources after the second up", legacyReleaseType)
			}
			s.assertNoOp(t, out)
		})
	}
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

// legacyLayout is the program as it was before the charts, frozen here with the same component
// and resource names (so the same URNs) and the same Istio outputs as a stack made then: Helm
// releases istio-base, the control plane and istio-ingressgateway. With revisions (the layout ctmd
// had last) the control plane is istiod-<revision> and the app's namespace picks it by label;
// without, it is one release istiod and the namespace has istio-injection=enabled.
func legacyLayout(revisions bool) pulumi.RunFunc {
	return func(ctx *pulumi.Context) error {
		cfg, target, opts, namespaces, err := frozenMesh(ctx, "istio-system", "istio-ingress")
		if err != nil {
			return err
		}
		// The properties helmv3.NewRelease sends, by type token like infra/mesh's read of them.
		release := func(name, chart, namespace string, values pulumi.Map, after ...pulumi.Resource) (pulumi.Resource, error) {
			r := &struct{ pulumi.CustomResourceState }{}
			return r, ctx.RegisterResource(mesh.ReleaseType, name, pulumi.Map{
				"name": pulumi.String(name), "chart": pulumi.String(chart), "version": pulumi.String(cfg.IstioVersion),
				"namespace": namespaces[namespace], "repositoryOpts": pulumi.Map{"repo": pulumi.String(cfg.IstioChartRepository)},
				"values": values, "timeout": pulumi.Int(600), "cleanupOnFail": pulumi.Bool(true), "compat": pulumi.String("true"),
			}, r, append(opts, pulumi.DependsOn(after))...)
		}
		revision, istiodName, defaultRevision := "", "istiod", "default"
		if revisions {
			revision = mesh.Revision(cfg.IstioVersion)
			istiodName, defaultRevision = "istiod-"+revision, revision
			ctx.Export("istioRevision", pulumi.String(revision))
		}
		ctx.Export("istioVersion", pulumi.String(cfg.IstioVersion))
		base, err := release("istio-base", "base", "istio-system", pulumi.Map{"defaultRevision": pulumi.String(defaultRevision)})
		if err != nil {
			return err
		}
		istiod, err := release(istiodName, "istiod", "istio-system", pulumi.Map{
			"revision":   pulumi.String(revision),
			"meshConfig": pulumi.Map{"outboundTrafficPolicy": pulumi.Map{"mode": pulumi.String(cfg.OutboundTrafficPolicy)}},
		}, base)
		if err != nil {
			return err
		}
		if _, err := release(mesh.GatewayRelease, "gateway", "istio-ingress", pulumi.Map{
			"labels":   pulumi.Map{"istio": pulumi.String("ingressgateway")},
			"service":  pulumi.Map{"type": pulumi.String("LoadBalancer")},
			"revision": pulumi.String(revision),
		}, istiod); err != nil {
			return err
		}
		_, err = app.New(ctx, "marketdata", app.Args{
			Provider: target.Provider, Image: cfg.Image, Replicas: cfg.Replicas,
			MongoConnectionString: cfg.MongoConnectionString, MongoHosts: cfg.MongoHosts,
			IngressPrincipals: cfg.IngressPrincipals, Mesh: []pulumi.Resource{istiod}, IstioRevision: revision,
		})
		return err
	}
}

// frozenMesh declares what every frozen layout of the mesh had, under the names the program gave
// them (so the same URNs): the adopted cluster's provider, the mesh component and its namespaces.
// It returns the options of the component's children and each namespace's name.
func frozenMesh(ctx *pulumi.Context, names ...string) (*config.Config, *cluster.Cluster, []pulumi.ResourceOption, map[string]pulumi.StringOutput, error) {
	cfg, err := config.Load(ctx)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	target, err := cluster.Existing(ctx, cfg)
	if err != nil {
		return nil, nil, nil, nil, err
	}
	m := &struct{ pulumi.ResourceState }{}
	if err := ctx.RegisterComponentResource("ctmd:mesh:Istio", "istio", m); err != nil {
		return nil, nil, nil, nil, err
	}
	opts := []pulumi.ResourceOption{pulumi.Parent(m), pulumi.Provider(target.Provider)}
	namespaces := map[string]pulumi.StringOutput{}
	for _, name := range names {
		ns, err := corev1.NewNamespace(ctx, name, &corev1.NamespaceArgs{Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name)}}, opts...)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		namespaces[name] = ns.Metadata.Name().Elem()
	}
	return cfg, target, opts, namespaces, nil
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

// helmOwnIstioCRDs marks the Istio CRDs an earlier test left (the base chart keeps them) as the
// istio-base release's, as they were in every cluster where that release ran: otherwise Helm
// refuses to install the old layout's release over them.
func helmOwnIstioCRDs(t *testing.T, k clients) {
	t.Helper()
	list, err := k.dyn.Resource(crdGVR).List(t.Context(), kmetav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	patch := []byte(`{"metadata":{"labels":{"app.kubernetes.io/managed-by":"Helm"},` +
		`"annotations":{"meta.helm.sh/release-name":"istio-base","meta.helm.sh/release-namespace":"istio-system"}}}`)
	for _, crd := range list.Items {
		if !strings.HasSuffix(crd.GetName(), ".istio.io") {
			continue
		}
		if _, err := k.dyn.Resource(crdGVR).Patch(t.Context(), crd.GetName(), types.MergePatchType, patch, kmetav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}
