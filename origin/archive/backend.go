package archive

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Backend is where archived media finally lives when it is not the local disk.
type Backend interface {
	// Put stores data under key, replacing nothing that differs: keys are
	// never reused for other bytes.
	Put(ctx context.Context, key string, data []byte) error
	// Get returns the bytes of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
}

// S3Config addresses an S3-compatible bucket.
type S3Config struct {
	// URL is s3://bucket/prefix.
	URL string
	// Endpoint is host:port or an http(s) URL; empty means AWS (s3.amazonaws.com).
	Endpoint string
	// AccessKey and SecretKey are the credentials; empty means anonymous.
	AccessKey, SecretKey string
	// Region is the bucket's region (may be empty for most S3-compatible servers).
	Region string
}

// S3 is a Backend on an S3-compatible bucket (minio-go).
type S3 struct {
	client *minio.Client
	bucket string
	prefix string
}

var _ Backend = (*S3)(nil)

// ParseS3URL splits s3://bucket/prefix.
func ParseS3URL(raw string) (bucket, prefix string, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "s3" || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", "", fmt.Errorf("want s3://bucket/prefix, got %q", raw)
	}
	return u.Host, strings.Trim(u.Path, "/"), nil
}

// NewS3 returns a backend on the bucket named by cfg.URL; it does not contact the server.
func NewS3(cfg S3Config) (*S3, error) {
	bucket, prefix, err := ParseS3URL(cfg.URL)
	if err != nil {
		return nil, err
	}
	endpoint, secure := cfg.Endpoint, true
	if endpoint == "" {
		endpoint = "s3.amazonaws.com"
	}
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("S3 endpoint %q: want host:port or http(s)://host:port", cfg.Endpoint)
		}
		endpoint, secure = u.Host, u.Scheme == "https"
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{}) // anonymous
	}
	c, err := minio.New(endpoint, &minio.Options{Creds: creds, Secure: secure, Region: cfg.Region,
		// The uploader retries on its own schedule; minio-go's own retries
		// would hold one attempt for seconds while the bucket is down.
		MaxRetries: 1})
	if err != nil {
		return nil, err
	}
	return &S3{client: c, bucket: bucket, prefix: prefix}, nil
}

func (s *S3) key(k string) string {
	if s.prefix == "" {
		return k
	}
	return s.prefix + "/" + k
}

// EnsureBucket creates the bucket if it does not exist.
func (s *S3) EnsureBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{})
}

// Put implements Backend.
func (s *S3) Put(ctx context.Context, key string, data []byte) error {
	ct := "video/mp4"
	if strings.HasSuffix(key, ".jsonl") {
		ct = "application/jsonl"
	}
	_, err := s.client.PutObject(ctx, s.bucket, s.key(key), bytes.NewReader(data), int64(len(data)),
		minio.PutObjectOptions{ContentType: ct, DisableMultipart: true})
	return err
}

// Get implements Backend.
func (s *S3) Get(ctx context.Context, key string) ([]byte, error) {
	obj, err := s.client.GetObject(ctx, s.bucket, s.key(key), minio.GetObjectOptions{})
	if err != nil {
		return nil, notFound(err)
	}
	defer obj.Close()
	b, err := io.ReadAll(obj)
	if err != nil {
		return nil, notFound(err)
	}
	return b, nil
}

// Delete implements Backend.
func (s *S3) Delete(ctx context.Context, key string) error {
	return notFoundOK(s.client.RemoveObject(ctx, s.bucket, s.key(key), minio.RemoveObjectOptions{}))
}

func notFound(err error) error {
	if minio.ToErrorResponse(err).Code == "NoSuchKey" {
		return ErrNotFound
	}
	return err
}

func notFoundOK(err error) error {
	if errors.Is(notFound(err), ErrNotFound) {
		return nil
	}
	return err
}
