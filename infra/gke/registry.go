package gke

import (
	"github.com/pulumi/pulumi-gcp/sdk/v7/go/gcp/artifactregistry"
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
// ctmd:image, which refuses latest, pins what every pod runs.
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
	_, err = artifactregistry.NewRepositoryIamMember(ctx, id+"-node-reader", &artifactregistry.RepositoryIamMemberArgs{
		Project:    repo.Project,
		Location:   repo.Location,
		Repository: repo.Name,
		Role:       pulumi.String("roles/artifactregistry.reader"),
		Member:     nodeSA.Member,
	}, parent)
	return repo, err
}
