"""The follower: fetch the account plan, reconcile the account, place and cancel orders, report."""
