mod brute_force;
