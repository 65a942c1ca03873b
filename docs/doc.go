// Package docs holds the repository's documentation. Its only code is the
// test that runs every command of api-walkthrough.md against a live stack,
// so the walkthrough cannot rot.
package docs
