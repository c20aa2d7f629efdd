"""Plain HTTP endpoints beside GraphQL: partner CSV exports and the Open311 GeoReport v2 API."""
