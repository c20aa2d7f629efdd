// The dashboard's GraphQL documents, apart from the page so that they can be registered as
// trusted documents: tools/trusted_documents.mjs writes each (every figures variant too) with
// its SHA-256 into schema/documents.json, which the server accepts from signed-out clients
// when GRAPHQL_TRUSTED_DOCUMENTS=anonymous. Change a query here, then run `make documents`.

/** Jakarta has 44 kecamatan (48: room for a new one); the figures query has one aliased field per kecamatan shown. */
export const MAX_KECAMATAN = 48;

export const REPORT_FIELDS = `
fragment ReportFields on Report {
  id status description address createdAt voteCount commentCount
  category { id name }
  location { lat lng }
  kelurahan { id code name parent { name parent { name } } }
}`;

export const CATALOG = `query DashboardCatalog {
  regions(level: KELURAHAN) { id code name boundary parent { id name parent { id code name } } }
  categories { id code name }
}`;

/** Everything the filters drive but the ranking table, in one request: open reports per
 * kelurahan come from stats(regionId: <kecamatan>).byRegion, one aliased field per kecamatan. */
export function figuresQuery(kecamatanCount) {
  const vars = Array.from({ length: kecamatanCount }, (_, i) => `$k${i}: ID!`).join(", ");
  const perKecamatan = Array.from(
    { length: kecamatanCount },
    (_, i) =>
      `k${i}: stats(regionId: $k${i}, categoryIds: $cats, period: $period) { byRegion { count open resolved region { id } } }`,
  ).join("\n  ");
  return `query DashboardFigures($region: ID, $cats: [ID!], $period: PeriodInput, $since: DateTime,
    $statuses: [ReportStatus!]${vars ? `, ${vars}` : ""}) {
  summary: stats(regionId: $region, categoryIds: $cats, period: $period) {
    total byStatus { status count } byCategory { count category { id name } } daily { date created resolved }
  }
  scores: rankings(level: KELURAHAN, period: $period, withinRegionId: $region, first: 500) {
    rank belowMinimum unitId score reportsReceived reportsResolved
  }
  recent: reports(filter: {regionId: $region, categoryIds: $cats, createdAfter: $since, status: $statuses},
    orderBy: NEWEST, first: 100) {
    totalCount edges { node { ...ReportFields } }
  }
  ${perKecamatan}
}
${REPORT_FIELDS}`;
}

export const RANKINGS = `query DashboardRankings($level: RankingLevel!, $period: PeriodInput, $within: ID, $first: Int, $offset: Int) {
  rankings(level: $level, period: $period, withinRegionId: $within, first: $first, offset: $offset) {
    rank belowMinimum unitId unitName score reportsReceived reportsResponded reportsResolved
    responseRate resolutionRate slaComplianceRate medianResponseMinutes medianResolutionMinutes averageRating
    responseRateLow responseRateHigh slaComplianceRateLow slaComplianceRateHigh
    region { code }
    agency { code name }
    staff { displayName region { code name } agency { name } }
  }
}`;

export const LIVE = `subscription DashboardLive($filter: FeedFilter, $after: String) {
  reportEvents(filter: $filter, after: $after) {
    cursor kind occurredAt
    report { ...ReportFields }
    statusChange { from to note }
    comment { body isOfficial }
  }
}
${REPORT_FIELDS}`;
