package gke

import (
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/artifactregistry"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/projects"
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/serviceaccount"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/cryptotracker/ctmd/infra/config"
)

// repository is where the marketdata image lives; the nodes may pull from it. Its id is the
// stack's (ctmd:repositoryId, else the cluster name), so two stacks of a project never claim the
// same repository. Its tags are immutable: a pushed version tag names one build for good
// ("an image tag always points to the same image digest, including the default latest tag";
// pushing a tag already used by another image is refused:
// https://cloud.google.com/artifact-registry/docs/repositories/update-repo-settings), so
// ctmd:image, which refuses latest, pins what every pod runs. Its images are scanned for
// vulnerabilities (scanning).
func repository(ctx *pulumi.Context, cfg *config.Config, nodeSA *serviceaccount.Account, parent pulumi.ResourceOption) (*artifactregistry.Repository, error) {
	id := cfg.RepositoryID
	repo, err := artifactregistry.NewRepository(ctx, id, &artifactregistry.RepositoryArgs{
		Project:      pulumi.String(cfg.Project),
		Location:     pulumi.String(cfg.Region),
		RepositoryId: pulumi.String(id),
		Format:       pulumi.String("DOCKER"),
		Description:  pulumi.String("marketdata images (immutable version tags)"),
		DockerConfig: &artifactregistry.RepositoryDockerConfigArgs{ImmutableTags: pulumi.Bool(true)},
	}, parent)
	if err != nil {
		return nil, err
	}
	if _, err := artifactregistry.NewRepositoryIamMember(ctx, id+"-node-reader", &artifactregistry.RepositoryIamMemberArgs{
		Project:    repo.Project,
		Location:   repo.Location,
		Repository: repo.Name,
		Role:       pulumi.String("roles/artifactregistry.reader"),
		Member:     nodeSA.Member,
	}, parent); err != nil {
		return nil, err
	}
	return repo, scanning(ctx, cfg, parent)
}

// ScanningAPI is Artifact Analysis' container scanning.
const ScanningAPI = "containerscanning.googleapis.com"

// scanning turns on Artifact Analysis' automatic scanning for the repository: every image is
// scanned when pushed and its findings kept up to date afterwards. pulumi-gcp v7.38.0's
// Repository has no vulnerabilityScanningConfig, and needs none: a Docker repository's unset
// setting is INHERITED, "Scanning is Enabled, but dependent on API enablement"
// (https://cloud.google.com/artifact-registry/docs/reference/rest/v1/projects.locations.repositories#enablementconfig),
// and enabling the API "automatically begins scanning each new image as they are pushed to
// Artifact Registry repositories in your project"
// (https://cloud.google.com/artifact-analysis/docs/scan-os-automatically). The API is the project's,
// so it stays on at destroy, for other stacks and repositories of the project.
func scanning(ctx *pulumi.Context, cfg *config.Config, parent pulumi.ResourceOption) error {
	_, err := projects.NewService(ctx, ScanningAPI, &projects.ServiceArgs{
		Project:          pulumi.String(cfg.Project),
		Service:          pulumi.String(ScanningAPI),
		DisableOnDestroy: pulumi.Bool(false),
	}, parent)
	return err
}
