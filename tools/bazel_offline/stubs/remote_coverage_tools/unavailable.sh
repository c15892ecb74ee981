#!/bin/sh
echo "coverage tools are not available in the offline Bazel environment" >&2
exit 1
