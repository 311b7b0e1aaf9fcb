// The load check of the sample app (app/handler.sh): each iteration asks GET /health and
// GET /version, as users and `inv verify` do. Run it through `inv loadtest --env ENV`:
// shipyard passes the URL and the pass marks from [loadtest] in config as -e variables, and
// vus / duration as --vus / --duration, so config drives every number here.
//
//   BASE_URL          where the environment answers (verify.url, or the local proxy)
//   MAX_FAILED_RATE   loadtest.thresholds.http_req_failed: the largest share of failed requests
//   MAX_P95_MS        loadtest.thresholds.http_req_duration_p95_ms: the slowest p95, in ms
//
// k6 judges the thresholds itself and exits 99 when one is crossed; shipyard reads the
// verdict and the numbers from the --summary-export file.
import http from 'k6/http';
import { check } from 'k6';

function required(name) {
  const value = __ENV[name];
  if (value === undefined || value === '') {
    throw new Error(`${name} is not set: run this script through \`inv loadtest\``);
  }
  return value;
}

const base = required('BASE_URL').replace(/\/+$/, '');

export const options = {
  thresholds: {
    // "at most", as the config keys say: 0 allows no failed request at all
    http_req_failed: [`rate<=${required('MAX_FAILED_RATE')}`],
    http_req_duration: [`p(95)<=${required('MAX_P95_MS')}`],
  },
};

export default function () {
  const health = http.get(`${base}/health`, { tags: { name: 'GET /health' } });
  check(health, { '/health answers 200': (r) => r.status === 200 });
  const version = http.get(`${base}/version`, { tags: { name: 'GET /version' } });
  check(version, { '/version answers 200': (r) => r.status === 200 });
}
