"""GraphQL resolvers: parse input, check who asks, call one domain function, return."""
