export { createS3Backend, type S3BackendOptions, type S3Credentials } from './s3-backend.js';
